//! Per-model request hygiene from the catalogue: an output limit above what the model can
//! produce is lowered to its maximum before the request goes out, since every provider
//! refuses it with a 400 (Claude Code asks 32000 or 64000 of any model it is pointed at).

use serde_json::Value;
use switchyard_hub::Format;

/// Lowers the output limit of `body` (in the provider's `format`) to `max`; returns the
/// limit asked for when it was lowered. A Claude thinking budget, which must stay below
/// `max_tokens`, is lowered with it (or thinking is dropped when no budget Anthropic
/// accepts, at least 1024, fits).
pub fn clamp_max_tokens(format: Format, body: &mut Value, max: u64) -> Option<u64> {
    let mut asked = None;
    // Where the format keeps the output limit is part of its registration.
    for pointer in switchyard_hub::wire::max_tokens_at(format) {
        if let Some(v) = body.pointer_mut(pointer)
            && let Some(n) = v.as_u64()
            && n > max
        {
            *v = Value::from(max);
            asked = Some(n);
        }
    }
    if asked.is_some() && format == Format::Claude {
        let budget = body
            .pointer("/thinking/budget_tokens")
            .and_then(Value::as_u64);
        match budget {
            Some(b) if b >= max && max > 1024 => {
                if let Some(v) = body.pointer_mut("/thinking/budget_tokens") {
                    *v = Value::from(max - 1);
                }
            }
            Some(b) if b >= max => {
                if let Some(obj) = body.as_object_mut() {
                    obj.remove("thinking");
                }
            }
            _ => {}
        }
    }
    asked
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_format_has_its_limit_lowered() {
        let mut b =
            json!({"max_tokens": 32000, "thinking": {"type": "enabled", "budget_tokens": 31999}});
        assert_eq!(clamp_max_tokens(Format::Claude, &mut b, 8192), Some(32000));
        assert_eq!(
            b,
            json!({"max_tokens": 8192, "thinking": {"type": "enabled", "budget_tokens": 8191}})
        );
        let mut b =
            json!({"max_tokens": 5000, "thinking": {"type": "enabled", "budget_tokens": 4096}});
        clamp_max_tokens(Format::Claude, &mut b, 1024);
        assert_eq!(b, json!({"max_tokens": 1024}));
        let mut b = json!({"max_completion_tokens": 40000});
        assert_eq!(clamp_max_tokens(Format::OpenAi, &mut b, 32768), Some(40000));
        assert_eq!(b["max_completion_tokens"], 32768);
        let mut b = json!({"max_output_tokens": 200000});
        clamp_max_tokens(Format::Responses, &mut b, 128000);
        assert_eq!(b["max_output_tokens"], 128000);
        let mut b = json!({"generationConfig": {"maxOutputTokens": 20000}});
        clamp_max_tokens(Format::Gemini, &mut b, 8192);
        assert_eq!(b["generationConfig"]["maxOutputTokens"], 8192);
        let mut b = json!({"request": {"generationConfig": {"maxOutputTokens": 70000}}});
        clamp_max_tokens(Format::GeminiCli, &mut b, 65536);
        assert_eq!(b["request"]["generationConfig"]["maxOutputTokens"], 65536);
    }

    #[test]
    fn limits_within_the_maximum_and_odd_values_are_left_alone() {
        let mut b =
            json!({"max_tokens": 100, "thinking": {"type": "enabled", "budget_tokens": 2000}});
        let before = b.clone();
        assert_eq!(clamp_max_tokens(Format::Claude, &mut b, 8192), None);
        assert_eq!(b, before);
        let mut b = json!({"max_tokens": "lots"});
        assert_eq!(clamp_max_tokens(Format::OpenAi, &mut b, 10), None);
        let mut b = json!({"contents": []});
        assert_eq!(clamp_max_tokens(Format::Gemini, &mut b, 10), None);
    }
}
