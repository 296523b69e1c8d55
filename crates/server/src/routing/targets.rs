//! The order a combo's or a wildcard's targets are tried in when it is not the written one:
//! `cheapest` (the catalogue's prices times the tokens the request is expected to use),
//! `fastest` (each target's measured time to first byte) and `round-robin` (rotated one
//! step per request by the caller). All first leave out the targets that cannot take the
//! request (its prompt is longer than the model's context window, or
//! it carries tools or images the model does not take), then put the targets with an
//! account free to serve it before those whose accounts are all cooling down or set aside.
//! Combos tried as written never come here, so their requests pay nothing for this.

use std::time::SystemTime;

use serde_json::Value;

use crate::catalogue::Catalogue;
use crate::config::TargetStrategy;
use crate::request::resolve::Target;
use crate::routing::latency::Latencies;
use crate::state::app::Provider;

/// Output tokens assumed for a request that does not say how many it wants: about a
/// screenful of code, the usual answer of a coding client's turn.
pub const TYPICAL_OUTPUT: u64 = 1_000;

/// What a request needs of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    pub prompt_tokens: u64,
    /// The output limit the client asked for, if any.
    pub output_tokens: Option<u64>,
    pub tools: bool,
    pub images: bool,
}

impl Need {
    /// Reads what a request body (in any client format) needs; `prompt_tokens` is the
    /// estimate the request already made.
    pub fn of(body: &Value, prompt_tokens: u64) -> Need {
        let output_tokens = ["max_tokens", "max_completion_tokens", "max_output_tokens"]
            .iter()
            .find_map(|k| body.get(*k).and_then(Value::as_u64))
            .or_else(|| {
                body.pointer("/generationConfig/maxOutputTokens")
                    .and_then(Value::as_u64)
            });
        let tools = body
            .get("tools")
            .and_then(Value::as_array)
            .is_some_and(|t| !t.is_empty());
        Need {
            prompt_tokens,
            output_tokens,
            tools,
            images: has_image(body, 0),
        }
    }
}

/// Whether a body carries an image in any client format's shape: OpenAI chat `image_url`
/// parts, Responses `input_image`, Anthropic `image` blocks, Gemini `inlineData`/`fileData`
/// with an image MIME type.
fn has_image(v: &Value, depth: usize) -> bool {
    // Client bodies nest a handful of levels; deeper is not a message part.
    if depth > 12 {
        return false;
    }
    match v {
        Value::Array(items) => items.iter().any(|i| has_image(i, depth + 1)),
        Value::Object(o) => {
            let typed = o
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| matches!(t, "image" | "image_url" | "input_image"));
            let inline = ["inlineData", "inline_data", "fileData", "file_data"]
                .iter()
                .filter_map(|k| o.get(*k))
                .any(|d| {
                    ["mimeType", "mime_type"]
                        .iter()
                        .filter_map(|k| d.get(*k).and_then(Value::as_str))
                        .any(|m| m.starts_with("image/"))
                });
            typed || inline || o.values().any(|i| has_image(i, depth + 1))
        }
        _ => false,
    }
}

/// Puts `targets` in `strategy`'s order for a request that needs `need`. Targets that
/// cannot take it are left out, unless none can (the estimate is rough: the upstream then
/// has the last word).
pub fn order(
    targets: &mut Vec<Target>,
    strategy: TargetStrategy,
    need: &Need,
    providers: &[std::sync::Arc<Provider>],
    catalogue: &Catalogue,
    latencies: &Latencies,
    now: SystemTime,
) {
    if strategy == TargetStrategy::Order || targets.len() < 2 {
        return;
    }
    let kind = |t: &Target| providers.get(t.provider).map_or("", |p| p.kind.as_str());
    let fits = |t: &Target| {
        catalogue.find(kind(t), &t.model).is_none_or(|info| {
            info.context >= need.prompt_tokens
                && (!need.tools || info.tools)
                && (!need.images || info.modalities.iter().any(|m| m == "image"))
        })
    };
    if targets.iter().any(fits) {
        targets.retain(fits);
    }
    let mut keyed: Vec<(bool, Option<f64>, usize, Target)> = targets
        .drain(..)
        .enumerate()
        .map(|(i, t)| {
            let down = !providers
                .get(t.provider)
                .is_some_and(|p| available(p, &t, now));
            let key = match strategy {
                TargetStrategy::Cheapest => expected_cost(catalogue, kind(&t), &t.model, need),
                // The rotation already chose the order; only the down targets move back.
                TargetStrategy::RoundRobin => None,
                // Untried first: `None` sorts before any measurement.
                _ => providers
                    .get(t.provider)
                    .and_then(|p| latencies.get(&p.name, &t.model)),
            };
            (down, key, i, t)
        })
        .collect();
    keyed.sort_by(|a, b| {
        let by_key = match strategy {
            // No price is the dearest: a known price is preferred to a guess.
            TargetStrategy::Cheapest => match (a.1, b.1) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            },
            _ => match (a.1, b.1) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (x, y) => x.is_some().cmp(&y.is_some()),
            },
        };
        a.0.cmp(&b.0).then(by_key).then(a.2.cmp(&b.2))
    });
    targets.extend(keyed.into_iter().map(|(_, _, _, t)| t));
}

/// What a request is expected to cost at `model`: its estimated prompt at the input price
/// plus the output it asked for (or [`TYPICAL_OUTPUT`]), within the model's output limit,
/// at the output price. `None` when the catalogue has no price for it.
pub fn expected_cost(catalogue: &Catalogue, kind: &str, model: &str, need: &Need) -> Option<f64> {
    let info = catalogue.find(kind, model)?;
    let prices = info.prices_for(need.prompt_tokens)?;
    let output = need
        .output_tokens
        .unwrap_or(TYPICAL_OUTPUT)
        .min(info.max_output);
    Some((need.prompt_tokens as f64 * prices.input + output as f64 * prices.output) / 1e6)
}

/// Whether some account of the target's provider (its pinned one, if any) could take a
/// request for its model now.
fn available(provider: &Provider, target: &Target, now: SystemTime) -> bool {
    provider.accounts().iter().any(|a| {
        target.account.as_deref().is_none_or(|p| p == a.name)
            && !a.credential.needs_login()
            && a.lock_health().check(&target.model, now).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn needs_are_read_from_every_client_format() {
        let openai = json!({"max_completion_tokens": 50, "tools": [{"type": "function"}],
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:"}}]}]});
        assert_eq!(
            Need::of(&openai, 7),
            Need {
                prompt_tokens: 7,
                output_tokens: Some(50),
                tools: true,
                images: true
            }
        );
        let claude = json!({"max_tokens": 9, "tools": [], "messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]});
        let n = Need::of(&claude, 1);
        assert_eq!((n.output_tokens, n.tools, n.images), (Some(9), false, true));
        let gemini = json!({"generationConfig": {"maxOutputTokens": 3},
            "contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": ""}}]}]});
        let n = Need::of(&gemini, 1);
        assert_eq!((n.output_tokens, n.images), (Some(3), true));
        let pdf =
            json!({"contents": [{"parts": [{"inlineData": {"mimeType": "application/pdf"}}]}]});
        assert!(!Need::of(&pdf, 1).images);
        let responses = json!({"input": [{"content": [{"type": "input_image"}]}]});
        assert!(Need::of(&responses, 1).images);
        assert_eq!(Need::of(&json!({"messages": []}), 1).output_tokens, None);
    }

    #[test]
    fn expected_cost_is_prompt_at_input_plus_output_at_output_price() {
        let entry: crate::catalogue::ModelEntry = toml::from_str(
            r#"
id = "x"
kinds = ["openai"]
context = 1000
max_output = 500
input = 2.0
output = 10.0"#,
        )
        .unwrap();
        let c = Catalogue::builtin()
            .unwrap()
            .with_overrides(&[entry])
            .unwrap();
        let need = |out| Need {
            prompt_tokens: 1000,
            output_tokens: out,
            tools: false,
            images: false,
        };
        // 1000 × $2/M + 100 × $10/M
        let cost = expected_cost(&c, "openai", "x", &need(Some(100))).unwrap();
        assert!((cost - 0.003).abs() < 1e-12, "{cost}");
        // No output asked: the typical 1000, within the model's 500.
        let cost = expected_cost(&c, "openai", "x", &need(None)).unwrap();
        assert!((cost - 0.007).abs() < 1e-12, "{cost}");
        assert_eq!(expected_cost(&c, "openai", "nope", &need(None)), None);
    }
}
