//! `switchyard replay DIR`: a user's bug report becomes a regression test. DIR is one
//! request's debug-log folder (`logs/<time>_<client>_<provider>_<model>_<id>/`, written with
//! `debug_logs.enabled`); the translators run on it again, offline, stage by stage (client
//! request -> hub -> provider request, provider response -> hub -> client response, streamed
//! or not), and every place where today's output differs from what was recorded is printed.
//! `--save-fixture NAME` copies the folder into the golden directory that `cargo test`
//! replays (`tester/fixtures/replay/`).
//!
//! What is compared: the hub request and the hub and client responses whole; the provider
//! request only where both sides have a value, since the executor (not replayed: it needs a
//! credential) adds headers' worth of fields and removes others. Ids and timestamps the
//! translators make up on each run are left out of every comparison.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;
use switchyard_hub::framing::SseDecoder;
use switchyard_hub::stream::{parse_sse_text, run_stage};
use switchyard_hub::{Format, Pipeline, Registry, StreamEvent, TranslateCtx};

use super::Error;

/// Fields a translator fills with a fresh id or the time: never the same twice.
const VOLATILE: &[&str] = &[
    "id",
    "item_id",
    "created",
    "created_at",
    "response_id",
    "system_fingerprint",
];

/// Replays `dir`; with `save`, copies it into `fixtures/<save>` once it replays cleanly.
pub fn run(dir: &Path, save: Option<&str>, fixtures: &Path) -> Result<(), Error> {
    let report = replay(dir)?;
    print!("{}", report.text);
    if report.differences > 0 {
        return Err(Error::Refused(format!(
            "{} stage(s) differ from the recording in {}",
            report.differences,
            dir.display()
        )));
    }
    println!(
        "{}: today's translators reproduce the recording",
        dir.display()
    );
    if let Some(name) = save {
        let to = save_fixture(dir, fixtures, name)?;
        println!("saved as the golden case {}", to.display());
    }
    Ok(())
}

/// What a replay found: its report and how many stages differ.
pub struct Report {
    pub text: String,
    pub differences: usize,
}

fn refused(what: impl Into<String>) -> Error {
    Error::Refused(what.into())
}

/// The request's formats and model, from the folder's name.
fn folder_parts(dir: &Path) -> Result<(Format, Format, String), Error> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| refused(format!("{} is not a debug-log folder", dir.display())))?;
    let parts: Vec<&str> = name.split('_').collect();
    let bad = || {
        refused(format!(
            "{name}: not a debug-log folder name (<time>_<client>_<provider>_<model>_<id>)"
        ))
    };
    let [_, client, provider, model @ .., _] = parts.as_slice() else {
        return Err(bad());
    };
    let client = Format::parse(client).ok_or_else(bad)?;
    let provider = Format::parse(provider).ok_or_else(bad)?;
    Ok((client, provider, model.join("_")))
}

fn read(dir: &Path, name: &str) -> Result<Option<Vec<u8>>, Error> {
    match std::fs::read(dir.join(name)) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(refused(format!(
            "cannot read {}: {e}",
            dir.join(name).display()
        ))),
    }
}

fn read_json(dir: &Path, name: &str) -> Result<Option<Value>, Error> {
    read(dir, name)?
        .map(|b| {
            serde_json::from_slice(&b).map_err(|e| refused(format!("{name} is not JSON: {e}")))
        })
        .transpose()
}

/// Replays one folder and reports each stage.
pub fn replay(dir: &Path) -> Result<Report, Error> {
    let (client, provider, folder_model) = folder_parts(dir)?;
    let recorded = read_json(dir, "1_req_client.json")?
        .ok_or_else(|| refused(format!("{} has no 1_req_client.json", dir.display())))?;
    let url = recorded["url"].as_str().unwrap_or_default();
    if url.contains("count") {
        return Err(refused(
            "token counts are not replayed (only chat requests are)",
        ));
    }
    let provider_req = read_json(dir, "3_req_provider.json")?;
    let model = provider_req
        .as_ref()
        .and_then(|r| r.pointer("/body/model"))
        .and_then(Value::as_str)
        .map_or(folder_model, str::to_owned);
    let stream = dir.join("6_res_client.sse").exists();
    let upstream_stream = dir.join("4_res_provider.sse").exists();
    let registry = Registry::load().map_err(|e| refused(e.to_string()))?;
    let pipeline = Pipeline::new(&registry, client, provider, stream, upstream_stream)
        .map_err(|e| refused(e.to_string()))?;
    let mut ctx = TranslateCtx::new(client, pipeline.provider, model, upstream_stream);
    let mut report = Report {
        text: String::new(),
        differences: 0,
    };

    let fail = |e: switchyard_hub::TranslateError| refused(format!("translation failed: {e}"));
    let hub = pipeline
        .request_to_hub(recorded["body"].clone(), &mut ctx)
        .map_err(fail)?;
    if let Some(want) = read_json(dir, "2_req_hub.json")? {
        let got = serde_json::to_value(&hub).map_err(|e| refused(e.to_string()))?;
        report.stage("2_req_hub.json", &want, &got, false);
    }
    let sent = pipeline.request_to_provider(hub, &mut ctx).map_err(fail)?;
    if let Some(want) = provider_req {
        // A binary body (Kiro, Cursor) is recorded as the request it was encoded from.
        let want = want
            .pointer("/body/encoded_from")
            .unwrap_or(&want["body"])
            .clone();
        report.stage("3_req_provider.json", &want, &sent, true);
    }

    if pipeline.is_passthrough() {
        let _ = writeln!(
            report.text,
            "responses: passed through untranslated, nothing to replay"
        );
        return Ok(report);
    }
    match (upstream_stream, stream) {
        (false, _) => {
            let Some(body) = read_json(dir, "4_res_provider.json")? else {
                return Ok(report.no_response());
            };
            let hub = pipeline.response_to_hub(body, &ctx).map_err(fail)?;
            report.compare_file(dir, "5_res_hub.json", &hub)?;
            let out = pipeline.response_to_client(hub, &ctx).map_err(fail)?;
            report.compare_file(dir, "6_res_client.json", &out)?;
        }
        (true, false) => {
            let Some(bytes) = read(dir, "4_res_provider.sse")? else {
                return Ok(report.no_response());
            };
            let hub = crate::request::answer::collect_stream(
                &pipeline,
                &ctx,
                Box::new(SseDecoder::default()),
                &bytes,
            )
            .map_err(|e| refused(format!("translation failed: {}", e.message)))?;
            report.compare_file(dir, "5_res_hub.json", &hub)?;
            let out = pipeline.response_to_client(hub, &ctx).map_err(fail)?;
            report.compare_file(dir, "6_res_client.json", &out)?;
        }
        (true, true) => {
            let Some(bytes) = read(dir, "4_res_provider.sse")? else {
                return Ok(report.no_response());
            };
            let events = parse_sse_text(&String::from_utf8_lossy(&bytes)).map_err(fail)?;
            let hub = match pipeline.stream_to_hub(&ctx) {
                Some(mut stage) => run_stage(stage.as_mut(), events).map_err(fail)?,
                None => events,
            };
            report.compare_sse(dir, "5_res_hub.sse", &hub)?;
            let out = match pipeline.stream_to_client(&ctx) {
                Some(mut stage) => run_stage(stage.as_mut(), hub).map_err(fail)?,
                None => hub,
            };
            report.compare_sse(dir, "6_res_client.sse", &out)?;
        }
    }
    Ok(report)
}

impl Report {
    fn no_response(mut self) -> Report {
        let _ = writeln!(
            self.text,
            "responses: none recorded (the request failed upstream)"
        );
        self
    }

    fn compare_file(&mut self, dir: &Path, name: &str, got: &Value) -> Result<(), Error> {
        if let Some(want) = read_json(dir, name)? {
            self.stage(name, &want, got, false);
        }
        Ok(())
    }

    fn compare_sse(&mut self, dir: &Path, name: &str, got: &[StreamEvent]) -> Result<(), Error> {
        let Some(bytes) = read(dir, name)? else {
            return Ok(());
        };
        let want = parse_sse_text(&String::from_utf8_lossy(&bytes))
            .map_err(|e| refused(format!("{name} is not an SSE stream: {e}")))?;
        let as_json = |events: &[StreamEvent]| {
            Value::Array(events.iter().map(|e| (*e.data).clone()).collect())
        };
        self.stage(name, &as_json(&want), &as_json(got), false);
        Ok(())
    }

    /// Compares one stage; `common_only` looks only at the paths both sides have.
    fn stage(&mut self, name: &str, want: &Value, got: &Value, common_only: bool) {
        let mut lines = Vec::new();
        diff("", want, got, common_only, &mut lines);
        if lines.is_empty() {
            let _ = writeln!(self.text, "{name}: same");
        } else {
            self.differences += 1;
            let _ = writeln!(self.text, "{name}: DIFFERS");
            for l in lines.iter().take(50) {
                let _ = writeln!(self.text, "  {l}");
            }
            if lines.len() > 50 {
                let _ = writeln!(self.text, "  ... and {} more", lines.len() - 50);
            }
        }
    }
}

/// The differences between `want` (recorded) and `got` (today), one line per path.
fn diff(path: &str, want: &Value, got: &Value, common_only: bool, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, av) in a {
                if VOLATILE.contains(&k.as_str()) {
                    continue;
                }
                let p = format!("{path}/{k}");
                match b.get(k) {
                    Some(bv) => diff(&p, av, bv, common_only, out),
                    None if !common_only => out.push(format!("{p}: recorded {av}, now absent")),
                    None => {}
                }
            }
            if !common_only {
                for (k, bv) in b {
                    if !a.contains_key(k) && !VOLATILE.contains(&k.as_str()) {
                        out.push(format!("{path}/{k}: not recorded, now {bv}"));
                    }
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (av, bv)) in a.iter().zip(b).enumerate() {
                diff(&format!("{path}/{i}"), av, bv, common_only, out);
            }
            if a.len() != b.len() {
                out.push(format!(
                    "{path}: {} items recorded, {} now",
                    a.len(),
                    b.len()
                ));
            }
        }
        _ if want != got => {
            let p = if path.is_empty() { "/" } else { path };
            out.push(format!("{p}: recorded {want}, now {got}"));
        }
        _ => {}
    }
}

/// Copies `dir` into `fixtures/<name>/` (files only: a debug-log folder has no subfolders).
fn save_fixture(dir: &Path, fixtures: &Path, name: &str) -> Result<PathBuf, Error> {
    let folder = dir
        .file_name()
        .ok_or_else(|| refused(format!("{} is not a folder", dir.display())))?;
    let safe = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if !safe {
        return Err(refused(format!(
            "fixture name {name:?}: use letters, digits, - and _ only"
        )));
    }
    // The folder's own name keeps the formats and model the replay reads.
    let to = fixtures.join(name).join(folder);
    let io = |e: std::io::Error| refused(format!("cannot save the fixture {}: {e}", to.display()));
    std::fs::create_dir_all(&to).map_err(io)?;
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if entry.file_type().map_err(io)?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).map_err(io)?;
        }
    }
    Ok(to)
}

/// Every golden case under `fixtures` (each `NAME/<debug-log folder>`).
pub fn golden_cases(fixtures: &Path) -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(fixtures)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|named| {
            std::fs::read_dir(named.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|e| e.path())
        .filter(|p| p.join("1_req_client.json").exists())
        .collect();
    cases.sort();
    cases
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every golden case saved with `--save-fixture` replays without a difference.
    #[test]
    fn golden_cases_replay_unchanged() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tester/fixtures/replay");
        let cases = golden_cases(&fixtures);
        assert!(
            !cases.is_empty(),
            "no golden case under {}",
            fixtures.display()
        );
        for case in cases {
            let report = replay(&case).unwrap();
            assert_eq!(
                report.differences,
                0,
                "{}:\n{}",
                case.display(),
                report.text
            );
        }
    }

    #[test]
    fn diff_names_each_changed_path_and_skips_volatile_ones() {
        let want = serde_json::json!({"id": "a", "x": {"y": [1, 2]}, "gone": true});
        let got = serde_json::json!({"id": "b", "x": {"y": [1, 3]}, "new": 1});
        let mut out = Vec::new();
        diff("", &want, &got, false, &mut out);
        assert_eq!(
            out,
            [
                "/gone: recorded true, now absent",
                "/x/y/1: recorded 2, now 3",
                "/new: not recorded, now 1"
            ]
        );
        let mut common = Vec::new();
        diff("", &want, &got, true, &mut common);
        assert_eq!(common, ["/x/y/1: recorded 2, now 3"]);
    }
}
