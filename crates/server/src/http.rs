//! The HTTP side: the listener and its connections, the endpoint table (which path speaks
//! which client format), client authentication, and the bodies and responses sent back.

pub mod busy_poll;
pub mod client_auth;
pub mod endpoints;
pub mod respond;
pub mod serve;
pub mod stream_body;
pub mod turn;
pub mod websocket;
