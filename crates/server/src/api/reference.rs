//! The management API reference page (`docs/src/reference/api.md`), rendered from the same
//! OpenAPI document the server serves at `/api/openapi.json`: every path and method, its
//! parameters, request body and answers, and every schema they name. Written once, in the
//! handlers' annotations and types, so the page cannot describe an API the server does not
//! have; a test fails when the committed page differs from what this renders.

use std::fmt::Write as _;

use serde_json::{Map, Value};
use utoipa::OpenApi;

use super::openapi::ApiDoc;

/// Where the page lives, relative to the workspace root.
pub const PAGE: &str = "docs/src/reference/api.md";

/// The methods an OpenAPI path item may have, in the order the page lists them.
const METHODS: &[&str] = &["get", "put", "post", "patch", "delete", "head", "options"];

/// The page, as markdown.
pub fn markdown() -> String {
    let doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let mut out = String::from(
        "# Management API reference\n\n\
         <!-- Generated from the OpenAPI document (crates/server/src/api/openapi.rs and the \
         handlers' annotations) by the test `api::reference::tests::committed_page_is_current`; \
         do not edit by hand. Regenerate: SWITCHYARD_BLESS_DOCS=1 cargo test --workspace --lib \
         reference -->\n\n",
    );
    if let Some(d) = doc.pointer("/info/description").and_then(Value::as_str) {
        let _ = writeln!(out, "{d}\n");
    }
    out.push_str(
        "The same document, as JSON, is served at `GET /api/openapi.json` (no key needed); \
         [Dashboard and management API](../dashboard.md) has worked examples. Request and \
         answer bodies are JSON; every error has the [`ErrorBody`](#schema-errorbody) shape.\n",
    );
    let ops = operations(&doc);
    let tags: Vec<(String, String)> = doc
        .get("tags")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .map(|t| (text(t, "name"), text(t, "description")))
                .collect()
        })
        .unwrap_or_default();
    out.push_str("\n## Endpoints\n\n| method | path | what it does |\n| --- | --- | --- |\n");
    for op in &ops {
        let _ = writeln!(
            out,
            "| `{}` | [`{}`](#{}) | {} |",
            op.method.to_uppercase(),
            op.path,
            op.anchor(),
            cell(&text(op.body, "summary"))
        );
    }
    for (tag, description) in &tags {
        let _ = write!(out, "\n## {tag}\n\n");
        if !description.is_empty() {
            let _ = writeln!(out, "{description}.");
        }
        for op in ops.iter().filter(|o| o.tag == *tag) {
            operation(&mut out, op);
        }
    }
    let untagged: Vec<&Op> = ops
        .iter()
        .filter(|o| !tags.iter().any(|(t, _)| *t == o.tag))
        .collect();
    if !untagged.is_empty() {
        out.push_str("\n## Other\n");
        for op in untagged {
            operation(&mut out, op);
        }
    }
    schemas(&mut out, &doc);
    out
}

/// One operation: a method on a path.
struct Op<'a> {
    path: String,
    method: String,
    tag: String,
    body: &'a Value,
    /// Parameters declared on the path item, shared by its methods.
    shared: Vec<&'a Value>,
}

impl Op<'_> {
    /// The id of the operation's heading: method and path, letters and digits only.
    fn anchor(&self) -> String {
        let raw = format!("{}-{}", self.method, self.path);
        let mut id = String::new();
        for c in raw.chars() {
            if c.is_ascii_alphanumeric() {
                id.push(c.to_ascii_lowercase());
            } else if !id.ends_with('-') {
                id.push('-');
            }
        }
        id.trim_end_matches('-').to_owned()
    }
}

/// Every operation, by path then method.
fn operations(doc: &Value) -> Vec<Op<'_>> {
    let mut ops = Vec::new();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return ops;
    };
    let mut names: Vec<&String> = paths.keys().collect();
    names.sort();
    for path in names {
        let item = &paths[path];
        let shared: Vec<&Value> = item
            .get("parameters")
            .and_then(Value::as_array)
            .map(|p| p.iter().collect())
            .unwrap_or_default();
        for method in METHODS {
            if let Some(body) = item.get(*method) {
                ops.push(Op {
                    path: path.clone(),
                    method: (*method).to_owned(),
                    tag: body
                        .pointer("/tags/0")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    body,
                    shared: shared.clone(),
                });
            }
        }
    }
    ops
}

fn operation(out: &mut String, op: &Op<'_>) {
    let _ = write!(
        out,
        "\n<a id=\"{}\"></a>\n\n### `{} {}`\n\n",
        op.anchor(),
        op.method.to_uppercase(),
        op.path
    );
    for key in ["summary", "description"] {
        let t = text(op.body, key);
        if !t.is_empty() {
            let _ = write!(out, "{t}\n\n");
        }
    }
    let params: Vec<&Value> = op
        .shared
        .iter()
        .copied()
        .chain(
            op.body
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        )
        .collect();
    if !params.is_empty() {
        out.push_str(
            "| parameter | in | type | required | description |\n| --- | --- | --- | --- | --- |\n",
        );
        for p in params {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                text(p, "name"),
                text(p, "in"),
                p.get("schema").map(type_of).unwrap_or_default(),
                yes_no(p.get("required").and_then(Value::as_bool).unwrap_or(false)),
                cell(&text(p, "description"))
            );
        }
        out.push('\n');
    }
    if let Some(body) = op.body.get("requestBody") {
        let required = body
            .get("required")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let description = text(body, "description");
        let _ = write!(
            out,
            "Request body{}: {}{}{}\n\n",
            if required { "" } else { " (optional)" },
            content(body),
            if description.is_empty() { "" } else { ". " },
            description
        );
    }
    if let Some(responses) = op.body.get("responses").and_then(Value::as_object) {
        out.push_str("| status | meaning | body |\n| --- | --- | --- |\n");
        for (status, r) in responses {
            let _ = writeln!(
                out,
                "| {status} | {} | {} |",
                cell(&text(r, "description")),
                content(r)
            );
        }
    }
}

/// A request or response body: its media types and schemas, or "none".
fn content(body: &Value) -> String {
    let Some(content) = body.get("content").and_then(Value::as_object) else {
        return "none".to_owned();
    };
    content
        .iter()
        .map(|(media, m)| match m.get("schema") {
            Some(s) if media == "application/json" => type_of(s),
            Some(s) => format!("`{media}`: {}", type_of(s)),
            None => format!("`{media}`"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Every named schema, with its fields.
fn schemas(out: &mut String, doc: &Value) {
    let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    else {
        return;
    };
    out.push_str("\n## Schemas\n");
    let mut names: Vec<&String> = schemas.keys().collect();
    names.sort();
    for name in names {
        let schema = &schemas[name];
        let _ = write!(
            out,
            "\n<a id=\"schema-{}\"></a>\n\n### `{name}`\n\n",
            name.to_ascii_lowercase()
        );
        let description = text(schema, "description");
        if !description.is_empty() {
            let _ = write!(out, "{description}\n\n");
        }
        match schema.get("properties").and_then(Value::as_object) {
            Some(props) => fields(out, schema, props),
            None => {
                let _ = writeln!(out, "{}", type_of(schema));
            }
        }
    }
}

fn fields(out: &mut String, schema: &Value, props: &Map<String, Value>) {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    out.push_str("| field | type | required | description |\n| --- | --- | --- | --- |\n");
    for (field, prop) in props {
        let mut description = text(prop, "description");
        if let Some(default) = prop.get("default") {
            let _ = write!(description, " Default: `{default}`.");
        }
        let _ = writeln!(
            out,
            "| `{field}` | {} | {} | {} |",
            type_of(prop),
            yes_no(required.contains(&field.as_str())),
            cell(description.trim())
        );
    }
}

/// A schema as a short type: a link for a named schema, `array of ...`, `... or null`.
fn type_of(schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("[`{name}`](#schema-{})", name.to_ascii_lowercase());
    }
    for (key, join) in [("oneOf", " or "), ("anyOf", " or "), ("allOf", " and ")] {
        if let Some(parts) = schema.get(key).and_then(Value::as_array) {
            return parts.iter().map(type_of).collect::<Vec<_>>().join(join);
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let shown: Vec<String> = values
            .iter()
            .map(|v| match v {
                Value::Null => "null".to_owned(),
                other => format!("`{}`", other.to_string().trim_matches('"')),
            })
            .collect();
        return format!("one of {}", shown.join(", "));
    }
    if let Some(value) = schema.get("const") {
        return format!("`{}`", value.to_string().trim_matches('"'));
    }
    let kinds: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if kinds.is_empty() {
        return "any JSON".to_owned();
    }
    kinds
        .iter()
        .map(|kind| match *kind {
            "array" => format!(
                "array of {}",
                schema
                    .get("items")
                    .map(type_of)
                    .unwrap_or("any JSON".to_owned())
            ),
            "object" => match schema.get("additionalProperties") {
                Some(v @ Value::Object(_)) => format!("map of string to {}", type_of(v)),
                _ => "object".to_owned(),
            },
            "null" => "null".to_owned(),
            other => match schema.get("format").and_then(Value::as_str) {
                Some(f) => format!("{other} ({f})"),
                None => other.to_owned(),
            },
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

/// A text field of the document, as prose for the page.
fn text(v: &Value, key: &str) -> String {
    unlink(
        v.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim(),
    )
}

/// Rustdoc's intra-doc links (``[`revoke`]``), which the doc comments carry into the
/// document, as plain code: they point into the Rust code, not anywhere on the page.
fn unlink(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("[`") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find("`]") {
            Some(end) if !after[end + 2..].starts_with('(') => {
                out.push_str(&after[..end + 1]);
                rest = &after[end + 2..];
            }
            _ => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Text fit for one table cell: one line, no bare `|`.
fn cell(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed page is what the OpenAPI document renders to.
    #[test]
    fn committed_page_is_current() {
        crate::config::reference::assert_page_current(PAGE, &markdown(), "the OpenAPI document");
    }

    /// The check catches a route renamed in the code but not on the page, by its line.
    #[test]
    fn a_drifted_route_is_reported_with_its_line() {
        let generated = markdown();
        let heading = "### `GET /api/keys`";
        let line = generated.lines().position(|l| l == heading).unwrap() + 1;
        let committed = generated.replacen(heading, "### `GET /api/client-keys`", 1);
        let report = crate::config::reference::drift(&committed, &generated).unwrap();
        assert!(report.starts_with(&format!("line {line}:")), "{report}");
        assert!(report.contains("/api/client-keys"), "{report}");
    }

    /// Every path and method of the document has its heading, and every schema it names.
    #[test]
    fn every_operation_and_schema_is_on_the_page() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let page = markdown();
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() > 20, "{}", paths.len());
        for (path, item) in paths {
            for method in item.as_object().unwrap().keys() {
                if !METHODS.contains(&method.as_str()) {
                    continue;
                }
                let heading = format!("### `{} {path}`", method.to_uppercase());
                assert!(page.contains(&heading), "{heading} missing");
            }
        }
        for name in doc["components"]["schemas"].as_object().unwrap().keys() {
            assert!(page.contains(&format!("### `{name}`")), "{name} missing");
        }
        // A parameter and a request body are rendered, not only headings.
        assert!(page.contains("| `id` | path | string | yes |"), "{page}");
        assert!(
            page.contains("Request body: [`NewKey`](#schema-newkey)"),
            "{page}"
        );
    }

    /// A schema's type is a link, an array, a map or a nullable, as the document says.
    #[test]
    fn types_are_rendered_readably() {
        use serde_json::json;
        assert_eq!(
            type_of(&json!({"$ref": "#/components/schemas/KeyView"})),
            "[`KeyView`](#schema-keyview)"
        );
        assert_eq!(
            type_of(&json!({"type": "array", "items": {"type": "integer", "format": "int64"}})),
            "array of integer (int64)"
        );
        assert_eq!(
            type_of(&json!({"type": ["string", "null"]})),
            "string or null"
        );
        assert_eq!(
            type_of(&json!({"type": ["integer", "null"], "format": "int32"})),
            "integer (int32) or null"
        );
        assert_eq!(
            type_of(&json!({"type": "object", "additionalProperties": {"type": "string"}})),
            "map of string to string"
        );
        assert_eq!(
            type_of(&json!({"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/A"}]})),
            "null or [`A`](#schema-a)"
        );
        assert_eq!(type_of(&json!({"enum": ["a", "b"]})), "one of `a`, `b`");
        assert_eq!(cell("a |\n b"), "a \\| b");
        assert_eq!(
            unlink("see [`revoke`] and [`x`](#y) or [a]"),
            "see `revoke` and [`x`](#y) or [a]"
        );
    }
}
