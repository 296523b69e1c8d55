//! The config tests: defaults, unknown keys and bad values named with their line, env
//! overrides, combos, routing and limits.

use super::*;

fn parse_with(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    parse(
        text,
        Path::new("config.toml"),
        &Overrides::default(),
        &move |n| vars.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()),
    )
}

#[test]
fn default_file_parses_to_defaults() {
    let c = parse_with(DEFAULT_FILE, &[]).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:4100");
    assert!(!c.debug_logs);
    assert!(c.client_keys.is_empty());
    assert_eq!(c.database, PathBuf::from("data/switchyard.db"));
}

/// The default file with every commented line that is TOML on its own uncommented: what a
/// user gets by uncommenting the examples (prose lines stay comments).
fn default_file_uncommented() -> String {
    DEFAULT_FILE
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest)
                if rest.trim_start().starts_with('[') || rest.parse::<toml::Table>().is_ok() =>
            {
                rest.to_owned()
            }
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every example in the default file is valid as written, and its combo names only
/// providers the file declares.
#[test]
fn default_file_examples_parse_uncommented() {
    let text = default_file_uncommented();
    let vars =
        |name: &str| (name.contains("KEY") || name.contains("TOKEN")).then(|| "k".to_owned());
    let c = parse(
        &text,
        Path::new("config.toml"),
        &Overrides::default(),
        &vars,
    )
    .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let kinds: Vec<&str> = c.providers.iter().map(|p| p.kind.as_str()).collect();
    for kind in [
        "openai",
        "claude",
        "gemini",
        "openai-responses",
        "kiro",
        "cursor",
        "codex",
    ] {
        assert!(kinds.contains(&kind), "no `{kind}` example in {kinds:?}");
    }
    let coding = &c.combos["coding"];
    assert_eq!(coding.len(), 3);
    for step in coding {
        assert!(
            c.providers.iter().any(|p| p.name == step.provider),
            "{step:?}"
        );
    }
}

#[test]
fn unknown_key_names_key_and_line() {
    let err = parse_with("[server]\nlisten = \"127.0.0.1:1\"\nlisten_port = 3\n", &[]).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("line 3"), "{msg}");
    assert!(msg.contains("listen_port"), "{msg}");
}

#[test]
fn mistyped_value_names_line() {
    let err = parse_with("[server]\nbody_limit = \"big\"\n", &[]).unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
}

#[test]
fn env_overrides_and_account_keys_from_env() {
    let text = r#"
[[providers]]
name = "groq"
base_url = "https://api.groq.com/openai/v1"
models = ["llama"]
[[providers.accounts]]
name = "a"
api_key_env = "GROQ_KEY"
[[providers.accounts]]
name = "b"
api_key_env = "MISSING"
[aliases]
fast = "groq/llama"
"#;
    let c = parse_with(
        text,
        &[
            ("GROQ_KEY", "gsk-1"),
            ("SWITCHYARD_LISTEN", "0.0.0.0:9"),
            ("SWITCHYARD_DEBUG_LOGS", "1"),
        ],
    )
    .unwrap();
    assert_eq!(c.listen.to_string(), "0.0.0.0:9");
    assert!(c.debug_logs);
    assert_eq!(c.providers[0].accounts.len(), 1);
    assert_eq!(c.providers[0].accounts[0].key.expose(), "gsk-1");
    assert!(c.warnings.iter().any(|w| w.contains("MISSING")));
}

#[test]
fn unusable_base_urls_are_refused_with_key_and_line() {
    for (url, why) in [
        ("http://", "has no host"),
        ("http://exa mple.com/v1", "is not a valid URL"),
        ("http://example.com:99999/v1", "has port 99999"),
        ("http://example.com:0/v1", "has port 0"),
        ("https://[::1/v1", "not a valid URL"),
        ("ftp://example.com", "must start with http:// or https://"),
        ("example.com/v1", "must start with http:// or https://"),
    ] {
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:1\"\n\n[[providers]]\nname = \"p\"\nbase_url = \"{url}\"\n"
        );
        let err = parse_with(&text, &[]).unwrap_err().to_string();
        assert!(err.contains("line 6"), "{url}: {err}");
        assert!(err.contains("base_url"), "{url}: {err}");
        assert!(err.contains("provider `p`"), "{url}: {err}");
        assert!(err.contains(why), "{url}: {err}");
    }
    for url in [
        "http://127.0.0.1:8080",
        "https://api.groq.com/openai/v1",
        "http://[::1]:11434/v1/",
        "http://localhost:65535",
        "http://host:/v1",
    ] {
        let text = format!("[[providers]]\nname = \"p\"\nbase_url = \"{url}\"\n");
        let c = parse_with(&text, &[]).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(c.providers[0].base_url, url);
    }
}

#[test]
fn client_limits_default_and_come_from_file_or_env() {
    let c = parse_with("", &[]).unwrap();
    assert_eq!(c.max_connections, 4096);
    assert_eq!(c.timeouts.client_header, Duration::from_secs(30));
    assert_eq!(c.timeouts.client_body, Duration::from_secs(30));
    let c = parse_with(
        "[server]\nmax_connections = 10\n[timeouts]\nclient_body_ms = 500\n",
        &[("SWITCHYARD_CLIENT_HEADER_TIMEOUT_MS", "300")],
    )
    .unwrap();
    assert_eq!(c.max_connections, 10);
    assert_eq!(c.timeouts.client_header, Duration::from_millis(300));
    assert_eq!(c.timeouts.client_body, Duration::from_millis(500));
    assert!(parse_with("", &[("SWITCHYARD_MAX_CONNECTIONS", "0")]).is_err());
    assert!(parse_with("[timeouts]\nclient_body_ms = 0\n", &[]).is_err());
}

#[test]
fn rejects_bad_values() {
    assert!(parse_with("[aliases]\nx = \"nope/m\"\n", &[]).is_err());
    assert!(
        parse_with(
            "[[providers]]\nname = \"a/b\"\nbase_url = \"http://x\"\n",
            &[]
        )
        .is_err()
    );
    assert!(parse_with("[[providers]]\nname = \"a\"\nbase_url = \"ftp://x\"\n", &[]).is_err());
    assert!(parse_with("[server]\nlisten = \"nowhere\"\n", &[]).is_err());
    assert!(parse_with("", &[("SWITCHYARD_BODY_LIMIT", "lots")]).is_err());
}

#[test]
fn combos_routing_and_limits_parse_and_are_checked() {
    let base = r#"
[routing]
strategy = "round-robin"
daily_reset_offset = "+02:00"
[[providers]]
name = "a"
base_url = "http://x"
[[providers.accounts]]
name = "one"
api_key = "k"
priority = 2
daily_requests = 10
[[combos]]
name = "coding"
targets = ["a/m1", "a/m2@one"]
"#;
    let c = parse_with(base, &[]).unwrap();
    assert_eq!(c.routing.day_offset_secs, 7200);
    assert_eq!(c.providers[0].strategy, Strategy::RoundRobin);
    assert_eq!(
        c.combos["coding"][1],
        ComboTarget {
            provider: "a".into(),
            model: "m2".into(),
            account: Some("one".into())
        }
    );
    assert_eq!(c.providers[0].accounts[0].daily_requests, Some(10));
    assert!(parse_with(&base.replace("coding", "cod/ing"), &[]).is_err());
    assert!(parse_with(&base.replace("a/m2@one", "a/m2@two"), &[]).is_err());
    assert!(parse_with(&base.replace("a/m1", "b/m1"), &[]).is_err());
    assert!(parse_with(&base.replace("\"+02:00\"", "\"2h\""), &[]).is_err());
    assert!(parse_with(&base.replace("round-robin", "random"), &[]).is_err());
}

#[test]
fn model_names_are_checked() {
    assert!(check_model("openai/gpt-4.1").is_ok());
    assert!(check_model("../etc/passwd").is_err());
    assert!(check_model("a\nb").is_err());
    assert!(check_model("").is_err());
    assert!(check_model("/etc/passwd").is_err());
    assert!(check_model("a//b").is_err());
    assert!(check_model("a/").is_err());
}

mod properties {
    use super::*;
    use proptest::prelude::*;
    use proptest::strategy::Strategy;

    /// Keys and section headers of the real format, so generated text gets past the
    /// TOML syntax and into the typed and validating stages.
    const SECTIONS: &[&str] = &[
        "[server]",
        "[[client_keys]]",
        "[storage]",
        "[debug_logs]",
        "[timeouts]",
        "[[providers]]",
        "[[providers.accounts]]",
        "[providers.options]",
        "[providers.headers]",
        "[aliases]",
        "[[combos]]",
        "[routing]",
        "[nope]",
    ];
    const KEYS: &[&str] = &[
        "listen",
        "body_limit",
        "user_agent",
        "admin_key",
        "admin_key_env",
        "metrics_key",
        "metrics_key_env",
        "overhead_header",
        "busy_poll_us",
        "id",
        "key",
        "key_env",
        "requests_per_minute",
        "tokens_per_day",
        "database",
        "enabled",
        "dir",
        "connect_ms",
        "first_byte_ms",
        "keepalive_ms",
        "idle_ms",
        "total_ms",
        "name",
        "kind",
        "base_url",
        "models",
        "api_key",
        "api_key_env",
        "priority",
        "weight",
        "max_concurrency",
        "daily_requests",
        "daily_tokens",
        "strategy",
        "per_model_limits",
        "targets",
        "sticky_limit",
        "backoff_base_ms",
        "backoff_max_ms",
        "disable_after",
        "probe_after_ms",
        "session_header",
        "session_ttl_secs",
        "daily_reset_offset",
        "fast",
        "\"quoted key\"",
    ];

    fn toml_string() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9/:.@*+-]{0,24}",
            ".{0,24}",
            Just("127.0.0.1:4100".to_owned()),
            Just("http://127.0.0.1:1/v1".to_owned()),
            Just("+02:00".to_owned()),
            Just("round-robin".to_owned()),
            Just("a/m".to_owned()),
        ]
        .prop_map(|s| format!("{:?}", s))
    }

    fn toml_value() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            toml_string(),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            any::<bool>().prop_map(|b| b.to_string()),
            any::<f64>().prop_map(|f| format!("{f:?}")),
            Just("1979-05-27T07:32:00Z".to_owned()),
        ];
        leaf.prop_recursive(2, 8, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(", "))),
                prop::collection::vec((prop::sample::select(KEYS), inner), 0..3).prop_map(|kv| {
                    let body: Vec<String> =
                        kv.into_iter().map(|(k, v)| format!("{k} = {v}")).collect();
                    format!("{{ {} }}", body.join(", "))
                }),
            ]
        })
    }

    fn toml_line() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => (prop::sample::select(KEYS), toml_value()).prop_map(|(k, v)| format!("{k} = {v}")),
            1 => prop::sample::select(SECTIONS).prop_map(str::to_owned),
            1 => ".{0,30}",
            1 => Just(String::new()),
        ]
    }

    fn parse_text(text: &str) -> Result<Config, ConfigError> {
        parse(
            text,
            Path::new("config.toml"),
            &Overrides::default(),
            &|name| (name == "SET").then(|| "value".to_owned()),
        )
    }

    fn name() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9_.-]{0,11}"
    }

    fn model() -> impl Strategy<Value = String> {
        "[a-z0-9][a-z0-9.:_-]{0,15}(/[a-z0-9][a-z0-9._-]{0,8})?"
    }

    /// A provider: name, kind, models, accounts (name, key).
    type GenProvider = (String, String, Vec<String>, Vec<(String, String)>);

    fn provider() -> impl Strategy<Value = GenProvider> {
        (
            name(),
            prop::sample::select(&["openai", "claude", "gemini", "kiro"][..]),
            prop::collection::vec(model(), 0..4),
            prop::collection::vec((name(), "[ -~]{1,40}"), 0..3),
        )
            .prop_map(|(n, k, m, a)| (n, k.to_owned(), m, a))
    }

    fn quote(s: &str) -> String {
        // TOML basic strings take JSON's escapes for everything printable ASCII.
        serde_json::Value::String(s.to_owned()).to_string()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,600}") {
            let _ = parse_text(&text);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            // The file is read as UTF-8 first: invalid files are a read error, not a parse.
            if let Ok(text) = std::str::from_utf8(&bytes) {
                let _ = parse_text(text);
            }
            let _ = parse_text(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn toml_shaped_text_never_panics(lines in prop::collection::vec(toml_line(), 0..30)) {
            let text = lines.join("\n");
            if let Err(e) = parse_text(&text) {
                // Every refusal says where or what.
                prop_assert!(e.to_string().starts_with("config.toml: "), "{e}");
            }
        }

        #[test]
        fn valid_generated_configs_parse(
            providers in prop::collection::vec(provider(), 0..4),
            listen_port in any::<u16>(),
            strategy in prop::sample::select(&["priority", "round-robin", "least-errors", "weighted", "health"][..]),
            offset in (any::<bool>(), 0i32..=14, 0i32..60),
            client_keys in prop::collection::vec("[ -~]{1,30}", 0..3),
            admin in proptest::option::of("[ -~]{1,30}"),
        ) {
            // Names must be unique; the generator may repeat them.
            let mut seen = std::collections::BTreeSet::new();
            let providers: Vec<GenProvider> = providers
                .into_iter()
                .filter(|p| seen.insert(p.0.clone()))
                .map(|(n, k, m, a)| {
                    let mut names = std::collections::BTreeSet::new();
                    let a = a.into_iter().filter(|(an, _)| names.insert(an.clone())).collect();
                    (n, k, m, a)
                })
                .collect();
            let mut text = format!(
                "[server]\nlisten = \"127.0.0.1:{listen_port}\"\n",
            );
            if let Some(a) = &admin {
                text.push_str(&format!("admin_key = {}\n", quote(a)));
            }
            let sign = if offset.0 { '+' } else { '-' };
            text.push_str(&format!(
                "[routing]\nstrategy = \"{strategy}\"\ndaily_reset_offset = \"{sign}{:02}:{:02}\"\n",
                offset.1, offset.2
            ));
            for (i, k) in client_keys.iter().enumerate() {
                text.push_str(&format!("[[client_keys]]\nid = \"c{i}\"\nkey = {}\n", quote(k)));
            }
            let mut aliases = Vec::new();
            let mut combo_targets = Vec::new();
            for (i, (n, kind, models, accounts)) in providers.iter().enumerate() {
                let list: Vec<String> = models.iter().map(|m| quote(m)).collect();
                text.push_str(&format!(
                    "[[providers]]\nname = {}\nkind = \"{kind}\"\nbase_url = \"http://127.0.0.1:{}/v1\"\nmodels = [{}]\n",
                    quote(n), 1000 + i, list.join(", ")
                ));
                for (an, key) in accounts {
                    text.push_str(&format!("[[providers.accounts]]\nname = {}\napi_key = {}\n", quote(an), quote(key)));
                }
                if let Some(m) = models.first() {
                    aliases.push((format!("alias{i}"), format!("{n}/{m}")));
                    combo_targets.push(match accounts.first() {
                        Some((an, _)) => format!("{n}/{m}@{an}"),
                        None => format!("{n}/{m}"),
                    });
                }
            }
            if !aliases.is_empty() {
                text.push_str("[aliases]\n");
                for (a, t) in &aliases {
                    text.push_str(&format!("{a} = {}\n", quote(t)));
                }
            }
            if !combo_targets.is_empty() {
                let list: Vec<String> = combo_targets.iter().map(|t| quote(t)).collect();
                text.push_str(&format!("[[combos]]\nname = \"chain\"\ntargets = [{}]\n", list.join(", ")));
            }
            let c = match parse_text(&text) {
                Ok(c) => c,
                Err(e) => return Err(TestCaseError::fail(format!("{e}\n{text}"))),
            };
            prop_assert_eq!(c.listen.port(), listen_port);
            prop_assert!(c.listen.ip().is_loopback());
            prop_assert_eq!(c.providers.len(), providers.len());
            for (got, (n, kind, models, accounts)) in c.providers.iter().zip(&providers) {
                prop_assert_eq!(&got.name, n);
                prop_assert_eq!(&got.kind, kind);
                prop_assert_eq!(&got.models, models);
                prop_assert_eq!(got.accounts.len(), accounts.len());
                for (a, (an, key)) in got.accounts.iter().zip(accounts) {
                    prop_assert_eq!(&a.name, an);
                    prop_assert_eq!(a.key.expose(), key.as_str());
                }
            }
            prop_assert_eq!(c.aliases.len(), aliases.len());
            prop_assert_eq!(c.combos.get("chain").map_or(0, Vec::len), combo_targets.len());
            prop_assert_eq!(c.client_keys.len(), client_keys.len());
            prop_assert_eq!(c.admin_key.as_ref().map(|k| k.expose().to_owned()), admin);
            // Secrets never show in the config's Debug form.
            let debug = format!("{c:?}");
            for (_, _, _, accounts) in &providers {
                for (_, key) in accounts.iter().filter(|(_, k)| k.len() >= 8) {
                    prop_assert!(!debug.contains(key.as_str()), "account key in Debug");
                }
            }
        }

        #[test]
        fn check_model_never_panics(model in ".{0,300}") {
            let _ = check_model(&model);
        }

        #[test]
        fn control_characters_whitespace_and_backslashes_are_refused(
            before in "[a-z0-9/.-]{0,12}",
            bad in prop_oneof![
                (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap_or('\0')),
                (0x7fu32..0xa0).prop_map(|c| char::from_u32(c).unwrap_or('\0')),
                prop::sample::select(&['\\', ' ', '\u{a0}', '\u{2028}', '\u{2029}', '\u{3000}', '\u{85}', '\u{200a}'][..]),
            ],
            after in "[a-z0-9/.-]{0,12}",
        ) {
            let model = format!("{before}{bad}{after}");
            prop_assert!(check_model(&model).is_err(), "{model:?} accepted");
        }

        #[test]
        fn dot_segments_and_empty_segments_are_refused(
            segments in prop::collection::vec("[a-z0-9._-]{1,6}", 0..5),
            trick in prop::sample::select(&["..", ".", ""][..]),
            at in any::<prop::sample::Index>(),
        ) {
            let mut segments = segments;
            let i = at.index(segments.len() + 1);
            segments.insert(i, trick.to_owned());
            let model = segments.join("/");
            prop_assert!(check_model(&model).is_err(), "{model:?} accepted");
        }

        #[test]
        fn accepted_models_are_bounded_and_printable(model in ".{0,300}") {
            if check_model(&model).is_ok() {
                prop_assert!(!model.is_empty() && model.len() <= 256);
                prop_assert!(!model.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\'));
                prop_assert!(model.split('/').all(|s| !matches!(s, "" | "." | "..")));
            }
        }
    }
}
