//! Reading a management request's JSON body: bounded in size and time, and every mistake a
//! 400 that says what was wrong (serde names the unknown or missing field).

use http::Request;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::de::DeserializeOwned;
use switchyard_hub::{ApiError, ErrorKind};

use crate::state::app::App;

/// Far more than a management change needs; a login file being imported is the largest.
const BODY_LIMIT: usize = 1024 * 1024;

/// The request's body as `T`.
pub async fn read<T: DeserializeOwned>(app: &App, req: Request<Incoming>) -> Result<T, ApiError> {
    let pause = app.snapshot().config.timeouts.client_body;
    let collected =
        tokio::time::timeout(pause, Limited::new(req.into_body(), BODY_LIMIT).collect())
            .await
            .map_err(|_| {
                ApiError::new(408, ErrorKind::Timeout, "the request body stopped arriving")
            })?
            .map_err(|e| invalid(format!("cannot read the body: {e}")))?;
    serde_json::from_slice(&collected.to_bytes())
        .map_err(|e| invalid(format!("the body is not what this endpoint takes: {e}")))
}

pub fn invalid(message: String) -> ApiError {
    ApiError::new(400, ErrorKind::InvalidRequest, message).with_code("invalid_body")
}

/// The request's query string as `T` (an absent query reads as an empty one).
pub fn query<T: DeserializeOwned>(query: Option<&str>) -> Result<T, ApiError> {
    serde_urlencoded::from_str(query.unwrap_or_default()).map_err(|e| {
        ApiError::new(400, ErrorKind::InvalidRequest, format!("bad query: {e}"))
            .with_code("invalid_query")
    })
}
