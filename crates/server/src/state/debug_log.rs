//! Numbered per-request debug files under `logs/`, written by a background thread.
//!
//! One folder per request, `<UTC time>_<client format>_<provider format>_<model>_<short id>/`,
//! holding `1_req_client.json` .. `6_res_client.(json|sse)` and `error.json`. Secrets are
//! masked where headers are captured and, as a second line of defence, every configured
//! secret is scrubbed from the bytes before they reach the disk.

use std::path::PathBuf;
use std::sync::{Arc, RwLock, mpsc};
use std::thread::JoinHandle;

use http::HeaderMap;
use serde_json::{Map, Value, json};
use switchyard_auth::mask;

/// One request's files, gathered on the request path and written off it.
#[derive(Debug, Default)]
pub struct DebugTrace {
    pub folder: String,
    pub files: Vec<(&'static str, Vec<u8>)>,
}

impl DebugTrace {
    pub fn json(&mut self, name: &'static str, value: &Value) {
        let bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
        self.files.push((name, bytes));
    }

    pub fn raw(&mut self, name: &'static str, bytes: Vec<u8>) {
        self.files.push((name, bytes));
    }
}

/// Builds the folder name from its parts, keeping it a single safe path segment.
pub fn folder_name(client: &str, provider: &str, model: &str, request_id: &str) -> String {
    let ts = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let model: String = model
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let short: String = request_id.chars().take(8).collect();
    format!("{ts}_{client}_{provider}_{model}_{short}")
}

/// Headers as JSON, with every credential-bearing value masked.
pub fn headers_json(headers: &HeaderMap) -> Value {
    let mut map = Map::new();
    for (name, value) in headers {
        let sensitive = value.is_sensitive();
        let value = value.to_str().unwrap_or("<binary>");
        // Executors flag the headers that carry credentials or identity (Cursor's checksum
        // holds the machine id) as sensitive.
        let shown = if sensitive
            || is_secret_header(name.as_str())
            || value.len() > 20 && value.starts_with("Bearer ")
        {
            mask(value)
        } else {
            value.to_owned()
        };
        map.insert(name.as_str().to_owned(), Value::String(shown));
    }
    Value::Object(map)
}

fn is_secret_header(name: &str) -> bool {
    matches!(
        name,
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie"
    ) || ["key", "token", "secret", "auth"]
        .iter()
        .any(|w| name.contains(w))
}

pub fn request_json(method: &str, target: &str, headers: &HeaderMap, body: Value) -> Value {
    json!({ "method": method, "url": target, "headers": headers_json(headers), "body": body })
}

#[derive(Clone, Debug)]
pub struct DebugLogger {
    tx: mpsc::SyncSender<DebugTrace>,
    /// What the writer scrubs; replaced whole when the configuration changes.
    secrets: Arc<RwLock<Arc<Vec<String>>>>,
}

/// Secrets short enough to match ordinary text are not scrubbed.
fn usable(secrets: Vec<String>) -> Vec<String> {
    secrets.into_iter().filter(|s| s.len() >= 4).collect()
}

pub struct DebugWriter {
    handle: JoinHandle<()>,
}

impl DebugWriter {
    pub fn close(self) {
        let _ = self.handle.join();
    }
}

impl DebugLogger {
    /// Starts the writer. `secrets` are scrubbed from every file.
    pub fn start(
        dir: PathBuf,
        secrets: Vec<String>,
    ) -> std::io::Result<(DebugLogger, DebugWriter)> {
        std::fs::create_dir_all(&dir)?;
        let (tx, rx) = mpsc::sync_channel::<DebugTrace>(1024);
        let secrets = Arc::new(RwLock::new(Arc::new(usable(secrets))));
        let current = secrets.clone();
        let handle = std::thread::Builder::new()
            .name("debug-logs".into())
            .spawn(move || {
                for trace in rx {
                    let secrets = current.read().unwrap_or_else(|p| p.into_inner()).clone();
                    if let Err(e) = write(&dir, &trace, &secrets) {
                        tracing::warn!(folder = %trace.folder, "cannot write debug logs: {e}");
                    }
                }
            })?;
        Ok((DebugLogger { tx, secrets }, DebugWriter { handle }))
    }

    /// Replaces the secrets scrubbed from files, when the configuration changes.
    pub fn set_secrets(&self, secrets: Vec<String>) {
        *self.secrets.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(usable(secrets));
    }

    pub fn submit(&self, trace: DebugTrace) {
        if let Err(mpsc::TrySendError::Full(t)) = self.tx.try_send(trace) {
            tracing::warn!(folder = %t.folder, "debug log queue is full; trace dropped");
        }
    }
}

fn write(dir: &std::path::Path, trace: &DebugTrace, secrets: &[String]) -> std::io::Result<()> {
    let folder = dir.join(&trace.folder);
    std::fs::create_dir_all(&folder)?;
    for (name, bytes) in &trace.files {
        std::fs::write(folder.join(name), scrub(bytes, secrets))?;
    }
    Ok(())
}

/// Replaces every occurrence of a known secret with its mask.
pub fn scrub(bytes: &[u8], secrets: &[String]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for secret in secrets {
        let needle = secret.as_bytes();
        if memchr::memmem::find(&out, needle).is_none() {
            continue;
        }
        let masked = mask(secret).into_bytes();
        let mut next = Vec::with_capacity(out.len());
        let mut rest = out.as_slice();
        while let Some(at) = memchr::memmem::find(rest, needle) {
            next.extend_from_slice(rest.get(..at).unwrap_or_default());
            next.extend_from_slice(&masked);
            rest = rest.get(at + needle.len()..).unwrap_or_default();
        }
        next.extend_from_slice(rest);
        out = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_in_headers_and_scrubbed_from_bodies() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            "Bearer sk-very-secret-key-1".parse().unwrap(),
        );
        h.insert("x-api-key", "sk-very-secret-key-2".parse().unwrap());
        h.insert("content-type", "application/json".parse().unwrap());
        let mut flagged: http::HeaderValue = "paaotEjtmachine-id-value".parse().unwrap();
        flagged.set_sensitive(true);
        h.insert("x-cursor-checksum", flagged);
        let j = headers_json(&h);
        assert_eq!(j["x-cursor-checksum"], "paao***");
        assert_eq!(j["authorization"], "Bear***");
        assert_eq!(j["x-api-key"], "sk-v***");
        assert_eq!(j["content-type"], "application/json");
        let out = scrub(
            b"{\"echo\":\"sk-very-secret-key-1 and sk-very-secret-key-1\"}",
            &["sk-very-secret-key-1".into()],
        );
        assert_eq!(out, b"{\"echo\":\"sk-v*** and sk-v***\"}");
    }

    #[test]
    fn folder_names_are_one_safe_segment() {
        let name = folder_name("openai", "openai", "groq/../llama 3", "0123456789abcdef");
        assert!(!name.contains('/'));
        assert!(
            name.ends_with("_openai_openai_groq-..-llama-3_01234567"),
            "{name}"
        );
    }
}
