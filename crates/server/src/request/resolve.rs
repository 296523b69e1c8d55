//! Model strings: `provider/model`, aliases, and bare names a provider lists.

use serde_json::{Value, json};
use switchyard_hub::{ApiError, Format, Operation};

use crate::config::{ProviderConfig, Routes, TargetStrategy, check_model};
use crate::state::app::{Provider, Snapshot};

/// The answer to any model while the config declares no provider.
pub const NO_PROVIDERS: &str = "no providers are configured; add one to data/config.toml (see docs/src/getting-started.md, or the commented examples in that file) and restart";

/// What resolution needs to know of a provider: the running one, or its config.
pub trait Listed {
    fn name(&self) -> &str;
    fn models(&self) -> &[String];
}

impl Listed for crate::state::app::Provider {
    fn name(&self) -> &str {
        &self.name
    }
    fn models(&self) -> &[String] {
        &self.models
    }
}

impl Listed for std::sync::Arc<crate::state::app::Provider> {
    fn name(&self) -> &str {
        &self.name
    }
    fn models(&self) -> &[String] {
        &self.models
    }
}

impl Listed for ProviderConfig {
    fn name(&self) -> &str {
        &self.name
    }
    fn models(&self) -> &[String] {
        &self.models
    }
}

/// One place a request may go: a provider, the model there, and optionally one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub provider: usize,
    pub model: String,
    pub account: Option<String>,
}

/// The targets a model string leads to, in the order to try them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub combo: Option<String>,
    pub targets: Vec<Target>,
    /// How the targets are ordered for each request (`cheapest`, `fastest`); `Order` keeps
    /// them as they are.
    pub strategy: TargetStrategy,
}

/// Resolves a model string: a combo, an alias, `provider/model`, a wildcard such as
/// `*/claude-*` (every listed model that matches, providers in config order), or a bare
/// model a provider lists.
pub fn resolve(live: &Snapshot, requested: &str) -> Result<Resolved, ApiError> {
    resolve_in(&live.routes, &live.providers, requested)
}

/// [`resolve`] within one provider (a `/v1/providers/{name}/...` route): the targets the
/// model string leads to on that provider (an alias, a combo's steps, `name/model`, a
/// listed model); else the string is taken as the provider's own model id, as it is.
pub fn resolve_pinned(
    live: &Snapshot,
    provider: &str,
    requested: &str,
) -> Result<Resolved, ApiError> {
    resolve_pinned_in(&live.routes, &live.providers, provider, requested)
}

fn resolve_pinned_in<P: Listed>(
    routes: &Routes,
    providers: &[P],
    provider: &str,
    requested: &str,
) -> Result<Resolved, ApiError> {
    let index = providers
        .iter()
        .position(|p| p.name() == provider)
        .ok_or_else(|| {
            ApiError::not_found(format!("no provider named `{provider}` is configured"))
                .with_code("provider_not_found")
        })?;
    check_model(requested).map_err(|e| ApiError::invalid_request(e.0))?;
    let mut resolved = resolve_in(routes, providers, requested).unwrap_or(Resolved {
        combo: None,
        targets: Vec::new(),
        strategy: TargetStrategy::Order,
    });
    resolved.targets.retain(|t| t.provider == index);
    if resolved.targets.is_empty() {
        resolved.targets.push(Target {
            provider: index,
            model: requested.to_owned(),
            account: None,
        });
    }
    Ok(resolved)
}

/// [`resolve`] against `providers` (in config order), so it can be checked without a
/// running server.
pub fn resolve_in<P: Listed>(
    routes: &Routes,
    providers: &[P],
    requested: &str,
) -> Result<Resolved, ApiError> {
    check_model(requested).map_err(|e| ApiError::invalid_request(e.0))?;
    if providers.is_empty() {
        // A fresh install: saying how to add one helps more than "use provider/model".
        return Err(ApiError::not_found(NO_PROVIDERS.to_owned()).with_code("model_not_found"));
    }
    let provider_index = |name: &str| providers.iter().position(|p| p.name() == name);
    if let Some(steps) = routes.combos.get(requested) {
        let targets = steps
            .iter()
            .filter_map(|t| {
                Some(Target {
                    provider: provider_index(&t.provider)?,
                    model: t.model.clone(),
                    account: t.account.clone(),
                })
            })
            .collect();
        return Ok(Resolved {
            combo: Some(requested.to_owned()),
            targets,
            strategy: routes
                .combo_strategies
                .get(requested)
                .copied()
                .unwrap_or_default(),
        });
    }
    let spec = routes
        .aliases
        .get(requested)
        .map_or(requested, String::as_str);
    let one = |provider, model: &str| Resolved {
        combo: None,
        targets: vec![Target {
            provider,
            model: model.to_owned(),
            account: None,
        }],
        strategy: TargetStrategy::Order,
    };
    if spec.contains('*') {
        let (p_glob, m_glob) = spec.split_once('/').unwrap_or(("*", spec));
        let targets: Vec<Target> = providers
            .iter()
            .enumerate()
            .filter(|(_, p)| glob(p_glob, p.name()))
            .flat_map(|(i, p)| {
                p.models()
                    .iter()
                    .filter(|m| glob(m_glob, m))
                    .map(move |m| Target {
                        provider: i,
                        model: m.clone(),
                        account: None,
                    })
            })
            .collect();
        if !targets.is_empty() {
            return Ok(Resolved {
                combo: None,
                targets,
                strategy: routes.wildcard_strategy,
            });
        }
    } else if let Some((name, model)) = spec.split_once('/')
        && let Some(provider) = provider_index(name)
    {
        return Ok(one(provider, model));
    } else if let Some(provider) = providers
        .iter()
        .position(|p| p.models().iter().any(|m| m == spec))
    {
        return Ok(one(provider, spec));
    }
    Err(ApiError::not_found(format!(
        "model `{requested}` is not configured: use `provider/model`, an alias, a combo, or an id from GET /v1/models"
    ))
    .with_code("model_not_found"))
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return false;
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = rest.get(at + part.len()..).unwrap_or_default(),
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The catalogue's (context window, max output) for `model` at the provider named
/// `provider`, when the catalogue knows it.
pub fn limits(live: &Snapshot, provider: &str, model: &str) -> Option<(u64, u64)> {
    let p = live.providers.iter().find(|p| p.name == provider)?;
    let info = live.config.catalogue.find(&p.kind, model)?;
    Some((info.context, info.max_output))
}

/// The limits a route name can promise: its target's for an alias, the smallest of its
/// targets' for a combo (any of them may answer).
fn route_limits<'a>(
    live: &Snapshot,
    targets: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<(u64, u64)> {
    let mut out: Option<(u64, u64)> = None;
    for (provider, model) in targets {
        let (c, m) = limits(live, provider, model)?;
        out = Some(out.map_or((c, m), |(oc, om)| (oc.min(c), om.min(m))));
    }
    out
}

/// One entry of a model list: id, owner, (context window, max output) when known, and the
/// operations it serves.
struct ListEntry<'a> {
    id: String,
    owner: &'a str,
    limits: Option<(u64, u64)>,
    ops: Vec<Operation>,
}

/// What `model` at `provider` serves: what its provider has an endpoint for (or can serve
/// as chat), narrowed by the model's family when its name tells one (an embedding model
/// does not chat, a speech model does not embed). A name that tells nothing keeps the
/// provider's whole list, as the proxy would route it, videos aside.
pub fn served_ops(provider: &Provider, model: &str) -> Vec<Operation> {
    let family = model_family(model);
    Operation::ALL
        .into_iter()
        .filter(|op| op.via_chat() || provider.executor.serves(*op).is_some())
        .filter(|op| family.is_none_or(|f| f.contains(op)))
        // Only a video model (named so) is listed as making videos: a provider with the
        // endpoint has chat models too, and those make none.
        .filter(|op| *op != Operation::Videos || family.is_some())
        .collect()
}

/// The operations a model of a well-known family serves, read from its name.
fn model_family(model: &str) -> Option<&'static [Operation]> {
    use Operation::{Embeddings, ImageEdits, Images, Speech, Transcriptions, Translations, Videos};
    let m = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase();
    if m.contains("embedding") || m.contains("embed-") {
        Some(&[Embeddings])
    } else if m.starts_with("tts-") || m.contains("-tts") {
        Some(&[Speech])
    } else if m.contains("whisper") {
        Some(&[Transcriptions, Translations])
    } else if m.contains("transcribe") {
        Some(&[Transcriptions])
    } else if m.contains("dall-e") || m.contains("gpt-image") {
        Some(&[Images, ImageEdits])
    } else if m.starts_with("imagen") {
        Some(&[Images])
    } else if m.starts_with("veo-") || m.starts_with("sora-") {
        Some(&[Videos])
    } else {
        None
    }
}

/// The operations a route's targets serve between them (a combo skips the targets that
/// cannot serve an endpoint, so any one of them is enough).
fn route_ops<'a>(
    live: &Snapshot,
    targets: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<Operation> {
    let mut ops: Vec<Operation> = Vec::new();
    for (provider, model) in targets {
        if let Some(p) = live.providers.iter().find(|p| p.name == provider) {
            ops.extend(served_ops(p, model));
        }
    }
    ops.sort_unstable();
    ops.dedup();
    ops
}

/// Gemini's method names for the operations it has.
fn gemini_methods(ops: &[Operation]) -> Vec<&'static str> {
    let mut methods = Vec::new();
    for op in ops {
        match op {
            Operation::Chat => {
                methods.extend(["generateContent", "streamGenerateContent", "countTokens"]);
            }
            Operation::Embeddings => methods.extend(["embedContent", "batchEmbedContents"]),
            Operation::Images => methods.push("predict"),
            Operation::Videos => methods.push("predictLongRunning"),
            _ => {}
        }
    }
    methods
}

/// The model list (`GET /v1/models`, `GET /v1beta/models`) in `format`'s shape: every
/// configured `provider/model` and alias, with the context window and output limit from the
/// catalogue in the format's own fields (Gemini `inputTokenLimit`/`outputTokenLimit`,
/// Anthropic `max_input_tokens`/`max_tokens`; OpenAI has none, so `context_window` and
/// `max_output_tokens` are added beside its fields), and the endpoints each serves
/// (`endpoints`, OpenAI paths, beside the OpenAI and Anthropic fields; Gemini's own
/// `supportedGenerationMethods`).
pub fn list(live: &Snapshot, format: Format) -> Value {
    let mut entries: Vec<ListEntry<'_>> = Vec::new();
    for p in &live.providers {
        for m in &p.models {
            entries.push(ListEntry {
                id: format!("{}/{m}", p.name),
                owner: p.name.as_str(),
                limits: limits(live, &p.name, m),
                ops: served_ops(p, m),
            });
        }
    }
    let routes = &live.routes;
    for (alias, target) in &routes.aliases {
        let pair = target.split_once('/');
        entries.push(ListEntry {
            id: alias.clone(),
            owner: "switchyard",
            limits: pair.and_then(|(p, m)| route_limits(live, [(p, m)])),
            ops: pair.map_or_else(Vec::new, |(p, m)| route_ops(live, [(p, m)])),
        });
    }
    for (combo, targets) in &routes.combos {
        let pairs = || {
            targets
                .iter()
                .map(|t| (t.provider.as_str(), t.model.as_str()))
        };
        entries.push(ListEntry {
            id: combo.clone(),
            owner: "switchyard",
            limits: route_limits(live, pairs()),
            ops: route_ops(live, pairs()),
        });
    }
    let paths =
        |ops: &[Operation]| -> Vec<&'static str> { ops.iter().map(|o| o.openai_path()).collect() };
    match format {
        Format::Claude => {
            let data: Vec<Value> = entries
                .iter()
                .map(|e| {
                    let mut m = json!({"type": "model", "id": e.id, "display_name": e.id, "created_at": "1970-01-01T00:00:00Z", "endpoints": paths(&e.ops)});
                    if let Some((context, max_output)) = e.limits {
                        m["max_input_tokens"] = json!(context);
                        m["max_tokens"] = json!(max_output);
                    }
                    m
                })
                .collect();
            json!({"data": data, "has_more": false, "first_id": entries.first().map(|e| &e.id), "last_id": entries.last().map(|e| &e.id)})
        }
        Format::Gemini => {
            let models: Vec<Value> = entries
                .iter()
                .map(|e| {
                    let mut m = json!({
                        "name": format!("models/{}", e.id), "displayName": e.id,
                        "supportedGenerationMethods": gemini_methods(&e.ops),
                    });
                    if let Some((context, max_output)) = e.limits {
                        m["inputTokenLimit"] = json!(context);
                        m["outputTokenLimit"] = json!(max_output);
                    }
                    m
                })
                .collect();
            json!({"models": models})
        }
        _ => {
            let data: Vec<Value> = entries
                .iter()
                .map(|e| {
                    let mut m = json!({"id": e.id, "object": "model", "created": 0, "owned_by": e.owner, "endpoints": paths(&e.ops)});
                    if let Some((context, max_output)) = e.limits {
                        m["context_window"] = json!(context);
                        m["max_output_tokens"] = json!(max_output);
                    }
                    m
                })
                .collect();
            json!({"object": "list", "data": data})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn globs_match_like_shells() {
        assert!(glob("claude-*", "claude-sonnet-4-5"));
        assert!(glob("*", "anything"));
        assert!(glob("*-mini", "gpt-4.1-mini"));
        assert!(glob("gpt-*-mini", "gpt-4.1-mini"));
        assert!(!glob("gpt-*-mini", "gpt-4.1"));
        assert!(!glob("claude-*", "gpt-4"));
        assert!(glob("a*a", "aa"));
        assert!(!glob("a*a", "a"));
    }

    const CONFIG: &str = r#"
[[providers]]
name = "oa"
base_url = "http://127.0.0.1:1/v1"
models = ["gpt-4.1", "gpt-4.1-mini", "o3", "org/fine-tuned"]
[[providers.accounts]]
name = "a"
api_key = "k"
[[providers]]
name = "cl"
kind = "claude"
base_url = "http://127.0.0.1:1"
models = ["claude-sonnet-4-5", "claude-opus-4-1", "o3"]
[aliases]
fast = "oa/gpt-4.1-mini"
any-claude = "cl/claude-*"
[[combos]]
name = "coding"
targets = ["cl/claude-sonnet-4-5", "oa/gpt-4.1@a"]
"#;

    fn config() -> crate::config::Config {
        crate::config::parse(
            CONFIG,
            std::path::Path::new("config.toml"),
            &crate::config::Overrides::default(),
            &|_| None,
        )
        .unwrap()
    }

    fn resolve(requested: &str) -> Result<Resolved, ApiError> {
        let c = config();
        resolve_in(
            &c.routes_with(Vec::new(), Vec::new()).0,
            &c.providers,
            requested,
        )
    }

    #[test]
    fn every_kind_of_model_string_resolves() {
        let one = |p: usize, m: &str| {
            vec![Target {
                provider: p,
                model: m.into(),
                account: None,
            }]
        };
        assert_eq!(resolve("oa/o3").unwrap().targets, one(0, "o3"));
        assert_eq!(resolve("cl/o3").unwrap().targets, one(1, "o3"));
        // A bare listed model goes to the first provider that lists it.
        assert_eq!(resolve("o3").unwrap().targets, one(0, "o3"));
        assert_eq!(resolve("fast").unwrap().targets, one(0, "gpt-4.1-mini"));
        assert_eq!(resolve("any-claude").unwrap().targets.len(), 2);
        assert_eq!(resolve("*/o3").unwrap().targets.len(), 2);
        // Not listed, but a provider prefix names where to send it.
        assert_eq!(
            resolve("oa/org/fine-tuned").unwrap().targets,
            one(0, "org/fine-tuned")
        );
        let combo = resolve("coding").unwrap();
        assert_eq!(combo.combo.as_deref(), Some("coding"));
        assert_eq!(combo.targets[1].account.as_deref(), Some("a"));
        assert_eq!(resolve("nope/o3").unwrap_err().status, 404);
        assert_eq!(resolve("oa/../o3").unwrap_err().status, 400);
        assert_eq!(resolve("/oa/o3").unwrap_err().status, 400);
    }

    /// `*` as a shell glob, by brute force.
    fn reference_glob(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| reference_glob(rest, &t[i..])),
            Some((c, rest)) => t.first() == Some(c) && reference_glob(rest, &t[1..]),
        }
    }

    fn model_string() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,40}",
            "[a-z0-9*/.@-]{0,24}",
            (
                prop::sample::select(&["oa", "cl", "*", "o*", "", "x", ".."][..]),
                prop::sample::select(&["/", "//", "\\\\", ""][..]),
                prop::sample::select(
                    &[
                        "o3",
                        "gpt-*",
                        "claude-*",
                        "*",
                        "",
                        "..",
                        ".",
                        "fast",
                        "coding",
                        "org/fine-tuned"
                    ][..]
                ),
            )
                .prop_map(|(p, sep, m)| format!("{p}{sep}{m}")),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn glob_never_panics(pattern in ".{0,24}", text in ".{0,24}") {
            let _ = glob(&pattern, &text);
        }

        #[test]
        fn glob_matches_the_reference(pattern in "[ab*]{0,8}", text in "[ab]{0,8}") {
            let p: Vec<char> = pattern.chars().collect();
            let t: Vec<char> = text.chars().collect();
            prop_assert_eq!(glob(&pattern, &text), reference_glob(&p, &t));
        }

        #[test]
        fn resolution_never_panics_and_targets_are_real(requested in model_string()) {
            let c = config();
            match resolve_in(&c.routes_with(Vec::new(), Vec::new()).0, &c.providers, &requested) {
                Ok(r) => {
                    prop_assert!(crate::config::check_model(&requested).is_ok());
                    for t in &r.targets {
                        prop_assert!(t.provider < c.providers.len());
                        prop_assert!(crate::config::check_model(&t.model).is_ok(), "{:?}", t.model);
                    }
                }
                Err(e) => {
                    prop_assert!(matches!(e.status, 400 | 404), "{}", e.status);
                    // A refused string is refused for its shape, before any lookup.
                    if crate::config::check_model(&requested).is_err() {
                        prop_assert_eq!(e.status, 400);
                    }
                }
            }
        }

        #[test]
        fn path_tricks_and_control_characters_are_refused(
            provider in prop::sample::select(&["oa/", "cl/", "*/", ""][..]),
            before in "[a-z0-9-]{0,8}",
            trick in prop_oneof![
                Just("/../".to_owned()),
                Just("/./".to_owned()),
                Just("//".to_owned()),
                Just("\\\\".to_owned()),
                Just("\\\\..\\\\".to_owned()),
                (0u32..0x20).prop_map(|c| char::from_u32(c).map(String::from).unwrap_or_default()),
                Just("\u{7f}".to_owned()),
                Just("\r\nx-injected: 1".to_owned()),
                Just(" ".to_owned()),
            ],
            after in "[a-z0-9-]{0,8}",
        ) {
            let requested = format!("{provider}{before}{trick}{after}");
            let err = resolve(&requested).unwrap_err();
            prop_assert_eq!(err.status, 400, "{:?}", requested);
            // The refusal names no more than the string itself, escaped.
            prop_assert!(!err.message.contains('\r') && !err.message.contains('\n'));
        }
    }
}
