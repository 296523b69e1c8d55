//! The shipped catalogue parses and is complete, and costs match hand-worked examples for
//! each provider format's usage (read through the hub, as the record path reads it).

use serde_json::json;
use switchyard_hub::Format;
use switchyard_hub::usage::from_response;

use super::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn the_shipped_catalogue_parses_and_is_complete() {
    let c = Catalogue::builtin().unwrap();
    let models = c.models();
    assert!(models.len() >= 30, "{} models", models.len());
    for m in &models {
        assert!(
            m.context >= m.max_output,
            "{}: context below max output",
            m.id
        );
        assert!(valid_date(&m.checked), "{}", m.id);
        assert!(!m.source.is_empty() && !m.modalities.is_empty(), "{}", m.id);
    }
    // Every provider kind Switchyard has is covered, each with priced models.
    for kind in KINDS {
        let priced = models
            .iter()
            .filter(|m| m.kinds.iter().any(|k| k == kind) && m.prices.is_some())
            .count();
        assert!(priced > 0, "no priced model for kind {kind}");
    }
    for kind in ["codex", "copilot", "kiro", "cursor", "gemini-cli"] {
        assert!(c.is_subscription(kind), "{kind}");
    }
    assert!(!c.is_subscription("claude") && !c.is_subscription("openai"));
    // The models today's clients ask for by default are there.
    for (kind, id) in [
        ("claude", "claude-opus-4-8"),
        ("claude", "claude-sonnet-5"),
        ("claude", "claude-haiku-4-5-20251001"),
        ("claude", "claude-sonnet-4-5-20250929"),
        ("kiro", "claude-sonnet-4.5"),
        ("cursor", "claude-4-sonnet"),
        ("codex", "gpt-5.5"),
        ("openai", "gpt-4.1-mini"),
        ("openai-responses", "o4-mini"),
        ("gemini", "gemini-2.5-pro"),
        ("gemini-cli", "gemini-3-pro-preview"),
        ("copilot", "gpt-4.1"),
    ] {
        assert!(c.find(kind, id).is_some(), "{kind} {id}");
    }
    assert!(
        c.find("openai", "claude-sonnet-5").is_none(),
        "kinds are kept apart"
    );
}

#[test]
fn ids_match_across_spellings() {
    assert_eq!(loose_id("claude-sonnet-4-5-20250929"), "claude-sonnet-4-5");
    assert_eq!(loose_id("Claude-Sonnet-4.5"), "claude-sonnet-4-5");
    assert_eq!(loose_id("gpt-4o-mini-2024-07-18"), "gpt-4o-mini");
    assert_eq!(loose_id("claude-3-5-haiku-latest"), "claude-3-5-haiku");
    assert_eq!(loose_id("gpt-5"), "gpt-5");
    assert_eq!(loose_id("20250929"), "20250929");
    assert_eq!(loose_id(" GPT_4o.Mini-20240718 "), "gpt-4o-mini");
    assert_eq!(loose_id("x-2025-01-01-latest"), "x");
    assert_eq!(loose_id("-2025-01-01"), "");
    assert_eq!(loose_id("x-12025-01-01"), "x-12025-01-01");
    assert_eq!(loose_id("x-120250101"), "x-120250101");
    assert_eq!(loose_id("2025-01-01"), "2025-01-01");
    assert_eq!(loose_id("modèle-v1"), "modèle-v1");
}

/// An id already spelled loosely (lower case, dashes) is looked up without a new string:
/// only its suffix is cut off.
#[test]
fn a_plain_id_is_looked_up_borrowed() {
    for (id, loose) in [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("gpt-5", "gpt-5"),
    ] {
        let key = loose_key(id);
        assert!(matches!(key, std::borrow::Cow::Borrowed(_)), "{id}");
        assert_eq!(key, loose);
    }
    assert!(matches!(loose_key("GPT-5"), std::borrow::Cow::Owned(_)));
}

#[test]
fn anthropic_usage_counts_cache_reads_and_writes_at_their_prices() {
    let c = Catalogue::builtin().unwrap();
    // Anthropic's input_tokens exclude cache reads and writes.
    let body = json!({"usage": {"input_tokens": 1000, "cache_read_input_tokens": 2000,
        "cache_creation_input_tokens": 500, "output_tokens": 300}});
    let usage = from_response(Format::Claude, &body).unwrap();
    let cost = c.cost("claude", "claude-sonnet-4-5-20250929", false, &usage);
    // 1000 x $3 + 2000 x $0.30 + 500 x $3.75 + 300 x $15 = 3000 + 600 + 1875 + 4500 per million
    assert!(close(cost.usd.unwrap(), 0.009975), "{cost:?}");
    assert_eq!(cost.basis, Basis::Api);
    assert_eq!(cost.version.as_deref(), Some("catalogue:2026-12-07"));
    // The same tokens through a Claude Code login: the API price, flagged equivalent.
    let sub = c.cost("claude", "claude-sonnet-4-5", true, &usage);
    assert_eq!(sub.basis, Basis::Equivalent);
    assert!(close(sub.usd.unwrap(), 0.009975));
}

#[test]
fn anthropic_long_prompts_pay_the_upper_tier() {
    let c = Catalogue::builtin().unwrap();
    let body = json!({"usage": {"input_tokens": 150000, "cache_read_input_tokens": 100000,
        "output_tokens": 1000}});
    let usage = from_response(Format::Claude, &body).unwrap();
    // 250k input > 200k: 150000 x $6 + 100000 x $0.60 + 1000 x $22.50
    let usd = c
        .cost("claude", "claude-sonnet-4-5", false, &usage)
        .usd
        .unwrap();
    assert!(close(usd, (900_000.0 + 60_000.0 + 22_500.0) / 1e6), "{usd}");
}

#[test]
fn openai_chat_prompt_tokens_include_cached_and_completion_includes_reasoning() {
    let c = Catalogue::builtin().unwrap();
    let body = json!({"usage": {"prompt_tokens": 10000, "completion_tokens": 2000,
        "prompt_tokens_details": {"cached_tokens": 4000},
        "completion_tokens_details": {"reasoning_tokens": 1500}}});
    let usage = from_response(Format::OpenAi, &body).unwrap();
    // 6000 x $1.25 + 4000 x $0.125 + 2000 x $10 (reasoning billed as output)
    let usd = c.cost("openai", "gpt-5", false, &usage).usd.unwrap();
    assert!(close(usd, (7_500.0 + 500.0 + 20_000.0) / 1e6), "{usd}");
}

#[test]
fn openai_responses_usage_through_codex_is_an_equivalent_price() {
    let c = Catalogue::builtin().unwrap();
    let body = json!({"usage": {"input_tokens": 20000, "output_tokens": 3000,
        "input_tokens_details": {"cached_tokens": 16000},
        "output_tokens_details": {"reasoning_tokens": 2500}, "total_tokens": 23000}});
    let usage = from_response(Format::Responses, &body).unwrap();
    let cost = c.cost("codex", "gpt-5.5", false, &usage);
    // 4000 x $5 + 16000 x $0.50 + 3000 x $30
    assert!(
        close(cost.usd.unwrap(), (20_000.0 + 8_000.0 + 90_000.0) / 1e6),
        "{cost:?}"
    );
    assert_eq!(cost.basis, Basis::Equivalent);
}

#[test]
fn gemini_thoughts_are_billed_as_output_and_cached_content_at_the_cache_price() {
    let c = Catalogue::builtin().unwrap();
    let body = json!({"usageMetadata": {"promptTokenCount": 10000, "cachedContentTokenCount": 2000,
        "candidatesTokenCount": 1000, "thoughtsTokenCount": 3000, "totalTokenCount": 14000}});
    let usage = from_response(Format::Gemini, &body).unwrap();
    // 8000 x $1.25 + 2000 x $0.125 + (1000 + 3000) x $10
    let usd = c
        .cost("gemini", "gemini-2.5-pro", false, &usage)
        .usd
        .unwrap();
    assert!(close(usd, (10_000.0 + 250.0 + 40_000.0) / 1e6), "{usd}");
    // Above 200k prompt tokens the whole request pays the upper tier.
    let long = json!({"usageMetadata": {"promptTokenCount": 300000, "candidatesTokenCount": 100}});
    let usage = from_response(Format::Gemini, &long).unwrap();
    let usd = c
        .cost("gemini", "gemini-2.5-pro", false, &usage)
        .usd
        .unwrap();
    assert!(close(usd, (300_000.0 * 2.5 + 100.0 * 15.0) / 1e6), "{usd}");
    // Code Assist serves the same model under a subscription.
    let sub = c.cost("gemini-cli", "gemini-2.5-pro", false, &usage);
    assert_eq!(sub.basis, Basis::Equivalent);
}

#[test]
fn unknown_and_unpriced_models_have_no_price() {
    let c = Catalogue::builtin().unwrap();
    let usage = Usage {
        prompt_tokens: 10,
        completion_tokens: 5,
        ..Usage::default()
    };
    let unknown = c.cost("openai", "llama-3.3-70b-versatile", false, &usage);
    assert_eq!((unknown.usd, unknown.basis), (None, Basis::NoPrice));
    let unpriced = c.cost("codex", "gpt-5.6-sol", false, &usage);
    assert_eq!((unpriced.usd, unpriced.basis), (None, Basis::NoPrice));
    assert!(c.find("codex", "gpt-5.6-sol").is_some(), "still described");
}

#[test]
fn config_entries_replace_or_add_models() {
    let overrides: Vec<ModelEntry> = toml::from_str::<toml::Table>(
        r#"
        [[models]]
        id = "gpt-5"
        kinds = ["openai"]
        context = 400000
        max_output = 128000
        input = 1.0
        output = 8.0
        [[models]]
        id = "llama-3.3-70b-versatile"
        kinds = ["openai"]
        context = 131072
        max_output = 32768
        input = 0.59
        output = 0.79
        "#,
    )
    .unwrap()["models"]
        .clone()
        .try_into()
        .unwrap();
    let c = Catalogue::builtin()
        .unwrap()
        .with_overrides(&overrides)
        .unwrap();
    let gpt5 = c.find("openai", "gpt-5").unwrap();
    assert_eq!(
        (gpt5.origin, gpt5.prices.unwrap().input),
        (Origin::Config, 1.0)
    );
    assert_eq!(gpt5.price_version(), "config:config");
    // Only the kinds the override names change.
    assert_eq!(c.find("codex", "gpt-5").unwrap().origin, Origin::Catalogue);
    assert_eq!(
        c.find("openai", "llama-3.3-70b-versatile")
            .unwrap()
            .max_output,
        32768
    );
    let usage = Usage {
        prompt_tokens: 1_000_000,
        ..Usage::default()
    };
    assert!(close(
        c.cost("openai", "gpt-5", false, &usage).usd.unwrap(),
        1.0
    ));
}

#[test]
fn bad_entries_are_refused_with_the_key_named() {
    let base = || Catalogue::builtin().unwrap();
    let entry = |kinds: Vec<&str>, input: Option<f64>| ModelEntry {
        tools: true,
        id: "m".into(),
        aliases: vec![],
        kinds: kinds.into_iter().map(String::from).collect(),
        context: 10,
        max_output: 5,
        modalities: text_only(),
        input,
        output: Some(1.0),
        cache_read: None,
        cache_write: None,
        reasoning: None,
        above: None,
        video_second: None,
        checked: None,
        source: None,
    };
    let err = base()
        .with_overrides(&[entry(vec!["nope"], Some(1.0))])
        .unwrap_err();
    assert!(err.to_string().contains("unknown kind `nope`"), "{err}");
    let err = base()
        .with_overrides(&[entry(vec!["openai"], None)])
        .unwrap_err();
    assert!(
        err.to_string().contains("both `input` and `output`"),
        "{err}"
    );
    let err = base()
        .with_overrides(&[entry(vec!["openai"], Some(-1.0))])
        .unwrap_err();
    assert!(err.to_string().contains("zero or more"), "{err}");
    let err = Catalogue::parse("subscription_kinds = []\n[[models]]\nid = \"x\"\nbogus = 1\n")
        .unwrap_err();
    assert!(err.to_string().contains("bogus"), "{err}");
}
