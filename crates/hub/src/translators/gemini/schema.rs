//! JSON Schema <-> Gemini `Schema` (the OpenAPI 3.0 subset of `parameters` and
//! `responseSchema`).
//!
//! Gemini parses `parameters` / `responseSchema` as a protobuf message: an unknown keyword
//! (`additionalProperties`, `$schema`, a `type` list, ...) fails the whole request. The rule:
//!
//! 1. Convert to the subset when that keeps the schema's structure: keywords without a
//!    Gemini field that only annotate or constrain (`$schema`, `$id`, `$comment`,
//!    `additionalProperties: true|false`, `examples`, `uniqueItems`, `multipleOf`,
//!    `exclusiveMinimum`, `readOnly`, unknown `x-*` keys, ...) are dropped; `type:[T,"null"]`
//!    and a `{"type":"null"}` `anyOf` branch become `nullable: true`; `oneOf` becomes `anyOf`;
//!    a string `const` becomes a one-value `enum`; local `$ref`s (`#/$defs/..`,
//!    `#/definitions/..`) are inlined; `allOf` with one member is merged; `required` keeps
//!    only names that are properties; `format` keeps only the values Gemini knows.
//! 2. Otherwise (a recursive or non-local `$ref`, `allOf` with several members, `not`,
//!    `if`/`then`/`else`, `patternProperties`, `additionalProperties` as a schema, tuple
//!    `items`/`prefixItems`, several non-null types, a non-string `enum`/`const`, a boolean or
//!    empty sub-schema, nesting deeper than 32) send the schema as JSON Schema in
//!    `parametersJsonSchema` / `responseJsonSchema`, minus `$schema`.

use serde_json::{Map, Value};

/// Where a converted schema goes.
#[derive(Debug, PartialEq)]
pub(super) enum Converted {
    /// Into `parameters` / `responseSchema`.
    Subset(Value),
    /// Into `parametersJsonSchema` / `responseJsonSchema`.
    JsonSchema(Value),
}

const MAX_DEPTH: usize = 32;

/// Converts a JSON Schema by the rule in the module docs.
pub(super) fn to_gemini(schema: &Value) -> Converted {
    let mut stack = Vec::new();
    match convert(schema, schema, &mut stack, 0) {
        Some(v) => Converted::Subset(v),
        None => Converted::JsonSchema(strip_meta(schema)),
    }
}

/// Whether a function's parameter schema declares no parameters at all (Gemini then wants
/// no `parameters`).
pub(super) fn is_empty_object(schema: &Value) -> bool {
    match schema {
        Value::Null => true,
        Value::Object(o) => {
            let no_props = o
                .get("properties")
                .is_none_or(|p| p.as_object().is_some_and(Map::is_empty));
            let only_object_keys = o.keys().all(|k| {
                matches!(
                    k.as_str(),
                    "type"
                        | "properties"
                        | "additionalProperties"
                        | "$schema"
                        | "required"
                        | "description"
                        | "title"
                )
            });
            no_props
                && only_object_keys
                && o.get("type")
                    .is_none_or(|t| t.as_str().is_some_and(|t| t.eq_ignore_ascii_case("object")))
        }
        _ => false,
    }
}

fn strip_meta(schema: &Value) -> Value {
    match schema {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| k.as_str() != "$schema")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    if !(pointer.starts_with("/$defs/") || pointer.starts_with("/definitions/")) {
        return None;
    }
    root.pointer(pointer)
}

fn gemini_type(t: &str) -> Option<&'static str> {
    Some(match t {
        "string" => "STRING",
        "number" => "NUMBER",
        "integer" => "INTEGER",
        "boolean" => "BOOLEAN",
        "array" => "ARRAY",
        "object" => "OBJECT",
        _ => return None,
    })
}

fn convert(node: &Value, root: &Value, stack: &mut Vec<String>, depth: usize) -> Option<Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    let obj = node.as_object()?;
    if obj.is_empty() {
        return None;
    }
    if let Some(reference) = obj.get("$ref") {
        return convert_ref(obj, reference.as_str()?, root, stack, depth);
    }
    if let Some(all) = obj.get("allOf") {
        let merged = merge_all_of(obj, all)?;
        return convert(&Value::Object(merged), root, stack, depth + 1);
    }
    let (ty, nullable) = declared_type(obj)?;
    let mut node = Node {
        out: Map::new(),
        ty,
        nullable,
    };
    for (key, value) in obj {
        node.keyword(key, value, root, stack, depth)?;
    }
    node.finish(obj)
}

/// A `$ref` site: the referenced schema converted (a cycle cannot be), with the site's own
/// annotations on top.
fn convert_ref(
    site: &Map<String, Value>,
    reference: &str,
    root: &Value,
    stack: &mut Vec<String>,
    depth: usize,
) -> Option<Value> {
    if stack.iter().any(|r| r == reference) {
        return None;
    }
    let target = resolve(root, reference)?;
    stack.push(reference.to_owned());
    let converted = convert(target, root, stack, depth + 1);
    stack.pop();
    let mut converted = converted?;
    overlay_annotations(site, &mut converted);
    Some(converted)
}

/// An `allOf` of one schema merged into its site; keys both define (other than the
/// description and title) cannot be merged.
fn merge_all_of(obj: &Map<String, Value>, all: &Value) -> Option<Map<String, Value>> {
    let [single] = all.as_array()?.as_slice() else {
        return None;
    };
    let mut merged = obj.clone();
    merged.remove("allOf");
    let single = single.as_object()?;
    for (k, v) in single {
        if merged.contains_key(k) && k != "description" && k != "title" {
            return None;
        }
        merged.entry(k.clone()).or_insert_with(|| v.clone());
    }
    Some(merged)
}

/// The Gemini type `type` names (one non-null type at most) and whether null is allowed.
fn declared_type(obj: &Map<String, Value>) -> Option<(Option<&'static str>, bool)> {
    let mut nullable = obj.get("nullable").and_then(Value::as_bool) == Some(true);
    let ty = match obj.get("type") {
        None => None,
        Some(Value::String(t)) => {
            if t == "null" {
                return None;
            }
            Some(gemini_type(t)?)
        }
        Some(Value::Array(types)) => {
            let mut non_null = Vec::new();
            for t in types {
                match t.as_str()? {
                    "null" => nullable = true,
                    other => non_null.push(gemini_type(other)?),
                }
            }
            let [single] = non_null.as_slice() else {
                return None;
            };
            Some(*single)
        }
        Some(_) => return None,
    };
    Some((ty, nullable))
}

/// One schema object being converted, keyword by keyword.
struct Node {
    out: Map<String, Value>,
    ty: Option<&'static str>,
    nullable: bool,
}

impl Node {
    /// Converts one keyword; `None` when the subset cannot express it.
    fn keyword(
        &mut self,
        key: &str,
        value: &Value,
        root: &Value,
        stack: &mut Vec<String>,
        depth: usize,
    ) -> Option<()> {
        let out = &mut self.out;
        match key {
            "type" | "nullable" => {}
            "description" | "title" | "pattern" => {
                if let Some(s) = value.as_str() {
                    out.insert(key.to_owned(), s.into());
                }
            }
            "minItems" | "maxItems" | "minLength" | "maxLength" | "minProperties"
            | "maxProperties"
                if value.is_u64() =>
            {
                out.insert(key.to_owned(), value.clone());
            }
            "minimum" | "maximum" if value.is_number() => {
                out.insert(key.to_owned(), value.clone());
            }
            "default" | "example" => {
                out.insert(key.to_owned(), value.clone());
            }
            "propertyOrdering"
                if value
                    .as_array()
                    .is_some_and(|a| a.iter().all(Value::is_string)) =>
            {
                out.insert(key.to_owned(), value.clone());
            }
            "format" => {
                if let Some(f) = value.as_str()
                    && matches!(
                        f,
                        "date-time" | "enum" | "float" | "double" | "int32" | "int64"
                    )
                {
                    out.insert(key.to_owned(), f.into());
                }
            }
            "enum" => {
                let mut values = Vec::new();
                for v in value.as_array()? {
                    match v {
                        Value::String(s) => values.push(Value::String(s.clone())),
                        Value::Null => self.nullable = true,
                        _ => return None,
                    }
                }
                self.string_type()?;
                self.out.insert("enum".into(), Value::Array(values));
            }
            "const" => {
                let s = value.as_str()?;
                self.string_type()?;
                self.out.insert("enum".into(), Value::Array(vec![s.into()]));
            }
            "properties" => {
                let mut props = Map::new();
                for (name, sub) in value.as_object()? {
                    props.insert(name.clone(), convert(sub, root, stack, depth + 1)?);
                }
                out.insert("properties".into(), Value::Object(props));
            }
            "required" => {} // filtered in `finish`, once properties are known
            "items" => {
                let sub = value.as_object().map(|_| value)?;
                out.insert("items".into(), convert(sub, root, stack, depth + 1)?);
            }
            "anyOf" | "oneOf" => self.any_of(value, root, stack, depth)?,
            "additionalProperties" | "unevaluatedProperties" if !value.is_boolean() => return None,
            "not" | "if" | "then" | "else" | "patternProperties" | "dependentSchemas"
            | "propertyNames" | "contains" | "prefixItems" | "$dynamicRef" | "$recursiveRef"
            | "additionalItems" | "unevaluatedItems" => return None,
            // Annotations and constraints Gemini has no field for; `$defs` are inlined.
            _ => {}
        }
        Some(())
    }

    /// `enum` and `const` make a string; a node already typed otherwise cannot convert.
    fn string_type(&mut self) -> Option<()> {
        if self.ty.is_some_and(|t| t != "STRING") {
            return None;
        }
        self.ty = Some("STRING");
        Some(())
    }

    /// `anyOf`/`oneOf`: a `{"type":"null"}` branch makes the node nullable; one branch left
    /// is merged into the node, several stay an `anyOf`.
    fn any_of(
        &mut self,
        value: &Value,
        root: &Value,
        stack: &mut Vec<String>,
        depth: usize,
    ) -> Option<()> {
        let mut branches = Vec::new();
        for b in value.as_array()? {
            if b.get("type").and_then(Value::as_str) == Some("null")
                && b.as_object().is_some_and(|o| o.len() == 1)
            {
                self.nullable = true;
                continue;
            }
            branches.push(convert(b, root, stack, depth + 1)?);
        }
        match branches.len() {
            0 => return None,
            1 => {
                let only = branches.pop()?;
                let Value::Object(only) = only else {
                    return None;
                };
                for (k, v) in only {
                    if k == "type" {
                        let t = v.as_str()?;
                        self.ty = Some(gemini_type(&t.to_ascii_lowercase())?);
                    } else if k == "nullable" {
                        self.nullable |= v.as_bool() == Some(true);
                    } else {
                        self.out.entry(k).or_insert(v);
                    }
                }
            }
            _ => {
                self.out.insert("anyOf".into(), Value::Array(branches));
            }
        }
        Some(())
    }

    /// Keeps the `required` names that are properties, infers a missing type from
    /// `properties`/`items`, and refuses what stays untyped.
    fn finish(mut self, obj: &Map<String, Value>) -> Option<Value> {
        let out = &mut self.out;
        if let (Some(Value::Array(required)), Some(Value::Object(props))) =
            (obj.get("required"), out.get("properties"))
        {
            let kept: Vec<Value> = required
                .iter()
                .filter(|r| r.as_str().is_some_and(|r| props.contains_key(r)))
                .cloned()
                .collect();
            if !kept.is_empty() {
                out.insert("required".into(), Value::Array(kept));
            }
        }
        let mut ty = self.ty;
        if ty.is_none() {
            if out.contains_key("properties") {
                ty = Some("OBJECT");
            } else if out.contains_key("items") {
                ty = Some("ARRAY");
            }
        }
        if ty.is_none() && !out.contains_key("anyOf") {
            // Nothing says what this is ("any value"): the subset cannot express it.
            return None;
        }
        if let Some(t) = ty {
            out.insert("type".into(), t.into());
            if t == "ARRAY" && !out.contains_key("items") {
                return None;
            }
        }
        if self.nullable {
            out.insert("nullable".into(), true.into());
        }
        Some(Value::Object(self.out))
    }
}

/// Keeps a `$ref` site's own description/title over the referenced schema's.
fn overlay_annotations(site: &Map<String, Value>, converted: &mut Value) {
    let Some(out) = converted.as_object_mut() else {
        return;
    };
    for key in ["description", "title"] {
        if let Some(Value::String(s)) = site.get(key) {
            out.insert(key.into(), s.clone().into());
        }
    }
    if site.get("nullable").and_then(Value::as_bool) == Some(true) {
        out.insert("nullable".into(), true.into());
    }
}

/// A Gemini `Schema` (upper-case types, `nullable`) -> JSON Schema.
pub(super) fn from_gemini(schema: &Value) -> Value {
    from_gemini_at(schema, 0)
}

fn from_gemini_at(schema: &Value, depth: usize) -> Value {
    let Some(obj) = schema.as_object() else {
        return schema.clone();
    };
    if depth > MAX_DEPTH {
        return schema.clone();
    }
    let mut out = Map::new();
    let nullable = obj.get("nullable").and_then(Value::as_bool) == Some(true);
    for (key, value) in obj {
        match key.as_str() {
            "nullable" | "propertyOrdering" | "property_ordering" => {}
            "type" => {
                let t = value
                    .as_str()
                    .map(str::to_ascii_lowercase)
                    .filter(|t| t != "type_unspecified");
                if let Some(t) = t {
                    let t = if nullable {
                        Value::Array(vec![t.into(), "null".into()])
                    } else {
                        t.into()
                    };
                    out.insert("type".into(), t);
                }
            }
            "format" if value.as_str() == Some("enum") => {}
            "properties" => {
                let props = value
                    .as_object()
                    .map(|p| {
                        p.iter()
                            .map(|(k, v)| (k.clone(), from_gemini_at(v, depth + 1)))
                            .collect::<Map<_, _>>()
                    })
                    .unwrap_or_default();
                out.insert("properties".into(), Value::Object(props));
            }
            "items" => {
                out.insert("items".into(), from_gemini_at(value, depth + 1));
            }
            "anyOf" | "any_of" => {
                let branches = value
                    .as_array()
                    .map(|a| a.iter().map(|b| from_gemini_at(b, depth + 1)).collect())
                    .unwrap_or_default();
                out.insert("anyOf".into(), Value::Array(branches));
            }
            "minItems" | "min_items" => {
                out.insert("minItems".into(), number(value));
            }
            "maxItems" | "max_items" => {
                out.insert("maxItems".into(), number(value));
            }
            "minLength" | "min_length" => {
                out.insert("minLength".into(), number(value));
            }
            "maxLength" | "max_length" => {
                out.insert("maxLength".into(), number(value));
            }
            "minProperties" | "min_properties" => {
                out.insert("minProperties".into(), number(value));
            }
            "maxProperties" | "max_properties" => {
                out.insert("maxProperties".into(), number(value));
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    if nullable && !out.contains_key("type") {
        out.insert("nullable".into(), true.into());
    }
    Value::Object(out)
}

/// Gemini sends int64 limits as strings ("5"); JSON Schema wants numbers.
fn number(v: &Value) -> Value {
    match v {
        Value::String(s) => s.parse::<u64>().map_or_else(|_| v.clone(), Value::from),
        _ => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claude_code_style_schema_converts_to_subset() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "command": {"type": "string", "description": "The command"},
                "timeout": {"type": ["number", "null"], "exclusiveMinimum": 0},
                "mode": {"enum": ["a", "b"]},
                "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
                "kind": {"const": "x"}
            },
            "required": ["command", "missing"]
        });
        let Converted::Subset(out) = to_gemini(&schema) else {
            panic!("expected the subset");
        };
        assert_eq!(
            out,
            json!({
                "type": "OBJECT",
                "properties": {
                    "command": {"type": "STRING", "description": "The command"},
                    "timeout": {"type": "NUMBER", "nullable": true},
                    "mode": {"type": "STRING", "enum": ["a", "b"]},
                    "tags": {"type": "ARRAY", "items": {"type": "STRING"}},
                    "kind": {"type": "STRING", "enum": ["x"]}
                },
                "required": ["command"]
            })
        );
    }

    #[test]
    fn local_refs_are_inlined_and_nullable_any_of_collapses() {
        let schema = json!({
            "type": "object",
            "$defs": {"Point": {"type": "object", "properties": {"x": {"type": "integer"}}}},
            "properties": {
                "p": {"$ref": "#/$defs/Point", "description": "where"},
                "q": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "r": {"oneOf": [{"type": "string"}, {"type": "integer"}]}
            }
        });
        let Converted::Subset(out) = to_gemini(&schema) else {
            panic!("expected the subset");
        };
        assert_eq!(
            out["properties"]["p"],
            json!({"type": "OBJECT", "description": "where", "properties": {"x": {"type": "INTEGER"}}})
        );
        assert_eq!(
            out["properties"]["q"],
            json!({"type": "STRING", "nullable": true})
        );
        assert_eq!(
            out["properties"]["r"],
            json!({"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]})
        );
    }

    #[test]
    fn structure_the_subset_cannot_hold_falls_back_to_json_schema() {
        for schema in [
            json!({"$schema": "x", "type": "object", "properties": {"m": {"type": "object", "additionalProperties": {"type": "string"}}}}),
            json!({"type": "object", "$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}}, "properties": {"n": {"$ref": "#/$defs/N"}}}),
            json!({"type": "object", "properties": {"v": {}}}),
            json!({"type": "object", "properties": {"v": {"type": ["string", "integer"]}}}),
            json!({"type": "object", "properties": {"v": {"enum": [1, 2]}}}),
            json!({"type": "object", "properties": {"v": {"not": {"type": "string"}}}}),
        ] {
            let Converted::JsonSchema(out) = to_gemini(&schema) else {
                panic!("expected JSON Schema for {schema}");
            };
            assert!(out.get("$schema").is_none());
            assert_eq!(out["type"], "object");
        }
    }

    #[test]
    fn empty_object_schemas_are_detected() {
        assert!(is_empty_object(
            &json!({"type": "object", "properties": {}})
        ));
        assert!(is_empty_object(&json!({"type": "object"})));
        assert!(is_empty_object(&Value::Null));
        assert!(!is_empty_object(
            &json!({"type": "object", "properties": {"a": {"type": "string"}}})
        ));
    }

    #[test]
    fn gemini_schema_back_to_json_schema() {
        let g = json!({
            "type": "OBJECT",
            "properties": {
                "a": {"type": "STRING", "nullable": true, "format": "enum", "enum": ["x"]},
                "b": {"type": "ARRAY", "items": {"type": "INTEGER"}, "maxItems": "3"}
            },
            "propertyOrdering": ["a", "b"],
            "required": ["a"]
        });
        assert_eq!(
            from_gemini(&g),
            json!({
                "type": "object",
                "properties": {
                    "a": {"type": ["string", "null"], "enum": ["x"]},
                    "b": {"type": "array", "items": {"type": "integer"}, "maxItems": 3}
                },
                "required": ["a"]
            })
        );
    }
}
