//! The configuration reference page (`docs/src/reference/config.md`), generated from the
//! file structs' JSON schema: their doc comments, types and serde defaults, plus the
//! environment overrides. Written once, in the code, so the page cannot say something the
//! loader does not do; a test fails when the committed page differs from what this renders.

use serde_json::{Map, Value};

use super::ENV_PREFIX;
use super::env::OVERRIDES;
use super::file::File;

/// Where the page lives, relative to the workspace root.
pub const PAGE: &str = "docs/src/reference/config.md";

/// The page, as markdown.
pub fn markdown() -> String {
    let schema = serde_json::to_value(schemars::schema_for!(File)).unwrap_or_default();
    let defs = schema
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut out = String::from(
        "# Configuration reference\n\n\
         <!-- Generated from crates/server/src/config/file.rs by the test \
         `config::reference::tests::committed_page_is_current`; do not edit by hand. \
         Regenerate: SWITCHYARD_BLESS_DOCS=1 cargo test --workspace --lib reference -->\n\n\
         Every key of `data/config.toml`, its type, its default and the environment variable \
         that overrides it. Every key is optional unless it says *required*; an unknown or \
         mistyped key stops start-up with a message naming it and its line. Secrets are named \
         by environment variable (`*_env`) rather than written into the file.\n\n\
         The config file itself is `data/config.toml`, or `--config PATH` \
         (`SWITCHYARD_CONFIG`); the log filter is `SWITCHYARD_LOG` (e.g. `debug`).\n",
    );
    let mut sections: Vec<(&String, &Value)> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.iter().collect())
        .unwrap_or_default();
    sections.sort_by_key(|(name, _)| section_rank(name));
    for (name, prop) in sections {
        section(&mut out, name, prop, &defs);
    }
    out
}

/// Sections in the order a config file usually has them.
fn section_rank(name: &str) -> usize {
    const ORDER: &[&str] = &[
        "server",
        "client_keys",
        "storage",
        "debug_logs",
        "timeouts",
        "routing",
        "providers",
        "aliases",
        "combos",
    ];
    ORDER.iter().position(|n| *n == name).unwrap_or(ORDER.len())
}

/// One top-level key (or a nested table, `path` dotted): a heading, its description, a
/// table of its keys, then any nested tables.
fn section(out: &mut String, path: &str, prop: &Value, defs: &Map<String, Value>) {
    let (target, array) = table_of(prop, defs);
    let Some(target) = target else {
        // A map of free keys (`aliases`, `options`): described, no key table.
        out.push_str(&format!("\n## `[{path}]`\n\n{}\n", description(prop, defs)));
        return;
    };
    let heading = if array {
        format!("[[{path}]]")
    } else {
        format!("[{path}]")
    };
    out.push_str(&format!(
        "\n## `{heading}`\n\n{}\n",
        description(prop, defs)
    ));
    out.push_str("\n| key | type | default | environment | description |\n");
    out.push_str("| --- | --- | --- | --- | --- |\n");
    let required: Vec<&str> = target
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let props = target
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut nested = Vec::new();
    for (key, p) in &props {
        if table_of(p, defs).0.is_some() {
            nested.push((key.clone(), p.clone()));
            continue;
        }
        let default = if required.contains(&key.as_str()) {
            "*required*".to_owned()
        } else {
            default_of(p)
        };
        let env = OVERRIDES
            .iter()
            .find(|(_, k)| *k == format!("{path}.{key}"))
            .map_or(String::new(), |(var, _)| format!("`{ENV_PREFIX}{var}`"));
        out.push_str(&format!(
            "| `{key}` | {} | {default} | {env} | {} |\n",
            type_of(p, defs),
            description(p, defs).replace('\n', " ")
        ));
    }
    for (key, p) in nested {
        section(out, &format!("{path}.{key}"), &p, defs);
    }
}

/// The struct schema a property is a table (or array of tables) of, if it is one.
fn table_of<'a>(prop: &'a Value, defs: &'a Map<String, Value>) -> (Option<&'a Value>, bool) {
    let (inner, array) = match prop.get("items") {
        Some(items) => (items, true),
        None => (prop, false),
    };
    let target = resolve(inner, defs);
    let is_struct = target.get("properties").is_some();
    (is_struct.then_some(target), array)
}

/// A `$ref` followed to its definition (an `Option`'s `anyOf [T, null]` to `T`).
fn resolve<'a>(schema: &'a Value, defs: &'a Map<String, Value>) -> &'a Value {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or_default();
        return defs.get(name).unwrap_or(schema);
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array)
        && let Some(some) = any.iter().find(|s| s.get("type") != Some(&"null".into()))
    {
        return resolve(some, defs);
    }
    schema
}

fn description(schema: &Value, defs: &Map<String, Value>) -> String {
    schema
        .get("description")
        .or_else(|| resolve(schema, defs).get("description"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn type_of(schema: &Value, defs: &Map<String, Value>) -> String {
    let target = resolve(schema, defs);
    if let Some(variants) = target.get("oneOf").and_then(Value::as_array) {
        let names: Vec<String> = variants
            .iter()
            .filter_map(|v| v.get("const").and_then(Value::as_str))
            .map(|v| format!("`{v}`"))
            .collect();
        return format!("one of {}", names.join(", "));
    }
    let kind = match target.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    };
    match kind.as_str() {
        "array" => {
            let item = target
                .get("items")
                .map_or(String::new(), |i| type_of(i, defs));
            format!("list of {item}")
        }
        "object" => "table of strings".to_owned(),
        "integer" => "integer".to_owned(),
        other => other.to_owned(),
    }
}

fn default_of(schema: &Value) -> String {
    if let Some(text) = schema.get("x-default-text").and_then(Value::as_str) {
        return text.to_owned();
    }
    match schema.get("default") {
        None | Some(Value::Null) => "(none)".to_owned(),
        Some(v) => format!("`{}`", toml_value(v)),
    }
}

/// A default as it would be written in the file.
fn toml_value(v: &Value) -> String {
    match v {
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(toml_value).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) if m.is_empty() => "{}".to_owned(),
        other => other.to_string(),
    }
}

/// The first line where `committed` and `generated` differ, as `line N: ...`, or `None`
/// when they are the same.
pub fn drift(committed: &str, generated: &str) -> Option<String> {
    let (a, b): (Vec<&str>, Vec<&str>) = (committed.lines().collect(), generated.lines().collect());
    (0..a.len().max(b.len())).find_map(|i| {
        let (x, y) = (a.get(i).copied(), b.get(i).copied());
        (x != y).then(|| {
            format!(
                "line {}: the page has {:?}, the code generates {:?}",
                i + 1,
                x.unwrap_or("(end of page)"),
                y.unwrap_or("(end of page)")
            )
        })
    })
}

/// The check every generated reference page runs in its tests: the committed page at
/// `page` (relative to the repository root) must be what `generated` is today;
/// `SWITCHYARD_BLESS_DOCS=1` writes it instead. `source` names what it is generated from.
#[cfg(test)]
pub fn assert_page_current(page: &str, generated: &str, source: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(page);
    if std::env::var_os("SWITCHYARD_BLESS_DOCS").is_some() {
        std::fs::write(&path, generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if let Some(d) = drift(&committed, generated) {
        panic!(
            "{page} has drifted from {source} ({d}); regenerate it with \
             SWITCHYARD_BLESS_DOCS=1 cargo test --workspace --lib reference"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed page is what the code generates.
    #[test]
    fn committed_page_is_current() {
        assert_page_current(PAGE, &markdown(), "the config structs");
    }

    /// Every key the loader accepts is on the page, with its override where it has one.
    #[test]
    fn every_key_and_override_is_on_the_page() {
        let page = markdown();
        for key in [
            "listen",
            "body_limit",
            "api_key_env",
            "sticky_limit",
            "per_model_limits",
        ] {
            assert!(
                page.contains(&format!("| `{key}` |")),
                "{key} missing:\n{page}"
            );
        }
        for (var, _) in OVERRIDES {
            assert!(
                page.contains(&format!("`{ENV_PREFIX}{var}`")),
                "{var} missing"
            );
        }
        assert!(page.contains("## `[[providers.accounts]]`"), "{page}");
        assert!(page.contains("one of `priority`, `round-robin`"), "{page}");
        assert!(
            page.contains("| `threads` | integer | one per core |"),
            "{page}"
        );
    }

    /// A key whose description names its choices names all of them: a choice added to an
    /// enum and left out of a description it is listed in would read as not accepted there.
    #[test]
    fn a_description_that_lists_choices_lists_every_one() {
        let page = markdown();
        for row in page.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = row.split(" | ").collect();
            let (Some(kind), Some(about)) = (cells.get(1), cells.last()) else {
                continue;
            };
            let Some(choices) = kind.strip_prefix("one of ") else {
                continue;
            };
            let choices: Vec<&str> = choices.split(", ").collect();
            let named: Vec<&&str> = choices.iter().filter(|c| about.contains(*c)).collect();
            if named.len() >= 2 {
                assert_eq!(named.len(), choices.len(), "{row}");
            }
        }
    }

    /// The checker catches a key renamed on the page (or in the code).
    #[test]
    fn a_drifted_key_is_reported_with_its_line() {
        let generated = markdown();
        let drifted = generated.replacen("| `body_limit` |", "| `body_limit_bytes` |", 1);
        let line = generated
            .lines()
            .position(|l| l.starts_with("| `body_limit` |"))
            .unwrap()
            + 1;
        let report = drift(&drifted, &generated).unwrap();
        assert!(report.starts_with(&format!("line {line}:")), "{report}");
        assert!(report.contains("body_limit_bytes"), "{report}");
        assert_eq!(drift(&generated, &generated), None);
        // A page missing its last key is caught too.
        let shorter: String = generated.lines().take(10).collect::<Vec<_>>().join("\n");
        assert!(drift(&shorter, &generated).is_some());
    }
}
