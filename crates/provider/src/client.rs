//! The one outbound HTTP client: pooled, HTTP/2 where the upstream offers it (ALPN),
//! TCP_NODELAY, rustls with the ring provider.
//!
//! With several serving threads (one runtime each), every thread gets a pool of its own (a
//! "lane", chosen by [`enter_lane`]): a pooled connection's task runs on the runtime that
//! opened it, so a shared pool would hand requests across cores.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

#[derive(Clone, Debug)]
pub struct ClientOptions {
    pub connect_timeout: Duration,
    pub pool_idle_timeout: Duration,
    /// Extra CA certificates (PEM) to trust besides the built-in roots.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// Separate connection pools, one per serving thread.
    pub lanes: usize,
}

thread_local! {
    static LANE: Cell<usize> = const { Cell::new(0) };
}

/// Makes this thread's requests use pool `lane` (taken modulo the client's lanes).
pub fn enter_lane(lane: usize) {
    LANE.with(|l| l.set(lane));
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            pool_idle_timeout: Duration::from_secs(90),
            extra_ca_pem: None,
            lanes: 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error("TLS setup failed: {0}")]
    Tls(#[from] rustls::Error),
    #[error("extra CA certificate is not valid PEM: {0}")]
    Pem(String),
}

type Pool = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A request body streamed upstream as it arrives (an upload passed through), not held whole.
pub type UploadBody = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// The pool for streamed bodies. One for all threads: uploads are rare and long, so where
/// their connection's task runs matters little.
type UploadPool = Client<HttpsConnector<HttpConnector>, UploadBody>;

#[derive(Clone, Debug)]
pub struct UpstreamClient {
    /// Lane 0's pool (a handle on it: clones share the pool).
    first: Pool,
    lanes: Arc<[Pool]>,
    uploads: UploadPool,
}

impl UpstreamClient {
    pub fn new(opts: &ClientOptions) -> Result<Self, ClientBuildError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(pem) = &opts.extra_ca_pem {
            use rustls::pki_types::{CertificateDer, pem::PemObject};
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| ClientBuildError::Pem(e.to_string()))?;
                roots
                    .add(cert)
                    .map_err(|e| ClientBuildError::Pem(e.to_string()))?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(
            rustls::crypto::ring::default_provider().into(),
        )
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();

        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(opts.connect_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let pool = || {
            Client::builder(TokioExecutor::new())
                .pool_idle_timeout(opts.pool_idle_timeout)
                .pool_timer(TokioTimer::new())
                .build(https.clone())
        };
        let first = pool();
        let lanes = std::iter::once(first.clone())
            .chain((1..opts.lanes).map(|_| pool()))
            .collect();
        let uploads = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(opts.pool_idle_timeout)
            .pool_timer(TokioTimer::new())
            .build(https);
        Ok(Self {
            first,
            lanes,
            uploads,
        })
    }

    /// This thread's pool.
    fn inner(&self) -> &Pool {
        let lane = LANE.with(Cell::get) % self.lanes.len().max(1);
        self.lanes.get(lane).unwrap_or(&self.first)
    }

    /// Sends a small request and reads the whole answer (OAuth endpoints, token exchanges),
    /// within 30 s and 4 MiB.
    pub async fn fetch(
        &self,
        req: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, std::io::Error> {
        use http_body_util::{BodyExt, Limited};
        let (parts, body) = req.into_parts();
        let req = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
        let work = async {
            let res = self
                .inner()
                .request(req)
                .await
                .map_err(std::io::Error::other)?;
            let (parts, body) = res.into_parts();
            let body = Limited::new(body, 4 * 1024 * 1024)
                .collect()
                .await
                .map_err(std::io::Error::other)?
                .to_bytes();
            Ok(http::Response::from_parts(parts, body.to_vec()))
        };
        tokio::time::timeout(Duration::from_secs(30), work)
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer within 30 s")
            })?
    }

    pub async fn send(
        &self,
        mut req: http::Request<Full<Bytes>>,
    ) -> Result<http::Response<Incoming>, hyper_util::client::legacy::Error> {
        set_plain_host(&mut req);
        self.inner().request(req).await
    }

    /// Sends a request whose body is streamed as it comes (see [`UploadBody`]).
    pub async fn send_upload(
        &self,
        req: http::Request<UploadBody>,
    ) -> Result<http::Response<Incoming>, hyper_util::client::legacy::Error> {
        self.uploads.request(req).await
    }
}

/// Sets `Host` on a request to a plain `http://` upstream (always HTTP/1.1, where the header is
/// due) from the URL's authority, as hyper-util would write it: it builds the value anew for
/// every request (the host and port formatted into a new string, ~2,000 instructions), where
/// the authority is that text already. Left to hyper-util: `https` (an HTTP/2 connection sends
/// `:authority` and no `Host`), an authority with user info or a default port (both left out
/// of `Host`), and a request that names its own.
fn set_plain_host<B>(req: &mut http::Request<B>) {
    let uri = req.uri();
    let Some(authority) = uri.authority() else {
        return;
    };
    if uri.scheme() != Some(&http::uri::Scheme::HTTP)
        || authority.as_str().contains('@')
        || authority.port_u16() == Some(80)
        || req.headers().contains_key(http::header::HOST)
    {
        return;
    }
    if let Ok(host) = http::HeaderValue::from_str(authority.as_str()) {
        req.headers_mut().insert(http::header::HOST, host);
    }
}

impl switchyard_auth::http::HttpSend for UpstreamClient {
    fn send(&self, request: http::Request<Vec<u8>>) -> switchyard_auth::http::HttpFuture<'_> {
        Box::pin(self.fetch(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_for(url: &str, own: Option<&str>) -> Option<String> {
        let mut b = http::Request::post(url);
        if let Some(h) = own {
            b = b.header(http::header::HOST, h);
        }
        let mut req = b.body(()).ok()?;
        set_plain_host(&mut req);
        req.headers()
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The Host set ahead of hyper-util is the one it would write (host, and a port only
    /// when not the default); what it would write differently is left to it.
    #[test]
    fn a_plain_http_upstream_gets_its_host_from_the_authority() {
        let cases = [
            (
                "http://127.0.0.1:8080/v1/chat",
                None,
                Some("127.0.0.1:8080"),
            ),
            ("http://example.com/v1", None, Some("example.com")),
            ("http://[::1]:9000/v1", None, Some("[::1]:9000")),
            ("http://example.com:80/v1", None, None),
            ("https://api.example.com/v1", None, None),
            ("http://user:pw@example.com:81/v1", None, None),
            (
                "http://127.0.0.1:8080/v1",
                Some("own.example"),
                Some("own.example"),
            ),
        ];
        for (url, own, want) in cases {
            assert_eq!(host_for(url, own).as_deref(), want, "{url}");
        }
    }
}
