//! Responses tools and tool choice -> hub: function, custom (freeform) and namespace tools
//! become hub function tools, hosted tools travel as hub `hosted` tools.

use serde_json::{Map, Value, json};

use super::*;
use crate::chat::{FunctionCall, FunctionDef, NamedToolChoice, Tool, ToolChoice};
use crate::ctx::TranslateCtx;
use crate::error::TranslateError;
use crate::format::Format;

/// Function tools for the hub, from Responses `tools` (and `additional_tools` items).
#[derive(Default)]
pub(super) struct Tools {
    pub(super) list: Vec<Tool>,
    seen: Vec<String>,
}

impl Tools {
    pub(super) fn add_all(
        &mut self,
        list: &mut [Value],
        at: &str,
        ctx: &mut TranslateCtx,
    ) -> Result<(), TranslateError> {
        for (i, tool) in list.iter_mut().enumerate() {
            let at = format!("{at}[{i}]");
            let Some(ty) = tool.get("type").and_then(Value::as_str) else {
                return Err(TranslateError::invalid(format!(
                    "{at}: a tool needs a `type`"
                )));
            };
            match ty {
                "function" => self.function(tool, None, &at, ctx)?,
                "custom" => self.custom(tool, &at, ctx)?,
                "namespace" => self.namespace(tool, &at, ctx)?,
                // Hosted tools the proxy can route (web search, file search, code
                // interpreter, image generation) travel as hub `hosted` tools; the rest
                // (tool_search, mcp, ...) have no hub form.
                _ => {
                    if let Some(hosted) = crate::hosted::to_hub(Format::Responses, tool) {
                        self.list.push(hosted_tool(hosted)?);
                    }
                }
            }
        }
        Ok(())
    }

    /// A namespace's function and custom tools, the functions named `<ns>__<name>`.
    fn namespace(
        &mut self,
        tool: &mut Value,
        at: &str,
        ctx: &mut TranslateCtx,
    ) -> Result<(), TranslateError> {
        let ns = tool.get_mut("name").and_then(take_string).ok_or_else(|| {
            TranslateError::invalid(format!("{at}: a namespace tool needs a `name`"))
        })?;
        let inner = tool
            .get_mut("tools")
            .and_then(Value::as_array_mut)
            .map(Vec::as_mut_slice)
            .unwrap_or_default();
        for (j, t) in inner.iter_mut().enumerate() {
            let at = format!("{at}.tools[{j}]");
            match t.get("type").and_then(Value::as_str) {
                Some("function") => self.function(t, Some(&ns), &at, ctx)?,
                Some("custom") => self.custom(t, &at, ctx)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Adds a function tool unless one of that name is already there.
    fn push(&mut self, function: FunctionDef) {
        if !self.seen.contains(&function.name) {
            self.seen.push(function.name.clone());
            self.list.push(Tool {
                function: Some(function),
                kind: "function".to_owned(),
                extra: Map::new(),
            });
        }
    }

    fn function(
        &mut self,
        tool: &mut Value,
        ns: Option<&str>,
        at: &str,
        ctx: &mut TranslateCtx,
    ) -> Result<(), TranslateError> {
        // Chat-style `{"type":"function","function":{...}}` is accepted too.
        let def = if tool.get("function").is_some_and(Value::is_object) {
            &mut tool["function"]
        } else {
            tool
        };
        let name = def
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                TranslateError::invalid(format!("{at}: a function tool needs a `name`"))
            })?;
        let name = match ns {
            Some(ns) => {
                let flat = flat_name(ns, name);
                mark_namespace(&mut ctx.tool_names, &flat, ns, name);
                flat
            }
            None => name.to_owned(),
        };
        let parameters = match def.get_mut("parameters") {
            Some(p) if p.is_object() => p.take(),
            _ => json!({ "type": "object", "properties": {} }),
        };
        self.push(FunctionDef {
            description: description(def),
            name,
            parameters: Some(Some(parameters)),
            strict: def.get("strict").and_then(Value::as_bool),
            extra: Map::new(),
        });
        Ok(())
    }

    /// A custom (freeform) tool: a function of one string parameter `input`, its grammar
    /// (if any) in that parameter's description.
    fn custom(
        &mut self,
        tool: &mut Value,
        at: &str,
        ctx: &mut TranslateCtx,
    ) -> Result<(), TranslateError> {
        let name = tool
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                TranslateError::invalid(format!("{at}: a custom tool needs a `name`"))
            })?;
        let name = name.to_owned();
        mark_custom(&mut ctx.tool_names, &name);
        let parameters = json!({
            "type": "object",
            "properties": {
                "input": { "type": "string", "description": input_description(tool) },
            },
            "required": ["input"],
            "additionalProperties": false,
        });
        self.push(FunctionDef {
            description: description(tool),
            name,
            parameters: Some(Some(parameters)),
            strict: None,
            extra: Map::new(),
        });
        Ok(())
    }
}

fn description(def: &mut Value) -> Option<String> {
    def.get_mut("description").and_then(take_string)
}

/// What a custom tool's `input` parameter says: free-form text, or text in its grammar.
fn input_description(tool: &Value) -> String {
    let format = tool.get("format");
    let field = |key: &str| format.and_then(|f| f.get(key)).and_then(Value::as_str);
    match field("type") {
        Some("grammar") => {
            let syntax = field("syntax").unwrap_or("lark");
            let definition = field("definition").unwrap_or_default();
            format!(
                "The raw input of the tool, passed on verbatim. It must follow this \
                 {syntax} grammar:\n{definition}"
            )
        }
        _ => "The raw input of the tool, passed on verbatim as free-form text.".to_owned(),
    }
}

/// A hosted tool's hub form (`{"type": "hosted", "hosted": {...}}`) as a typed tool.
fn hosted_tool(hub: Value) -> Result<Tool, TranslateError> {
    serde_json::from_value(hub).map_err(|e| TranslateError::invalid(format!("tools: {e}")))
}

pub(super) fn tool_choice_to_hub(choice: &Value) -> Result<ToolChoice, TranslateError> {
    let mode = |m: &str| ToolChoice::Mode(m.to_owned());
    Ok(match choice {
        Value::String(s) => match s.as_str() {
            "auto" | "none" | "required" => mode(s),
            other => {
                return Err(TranslateError::invalid(format!(
                    "`tool_choice` `{other}` is not one of auto, none, required"
                )));
            }
        },
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("function" | "custom") => {
                let name = o.get("name").and_then(Value::as_str).ok_or_else(|| {
                    TranslateError::invalid("`tool_choice` of type function needs a `name`")
                })?;
                let name = match o.get("namespace").and_then(Value::as_str) {
                    Some(ns) => flat_name(ns, name),
                    None => name.to_owned(),
                };
                named_choice(name)
            }
            // The hub has no allowed-tools subset; keep its mode.
            Some("allowed_tools") => match o.get("mode").and_then(Value::as_str) {
                Some("required") => mode("required"),
                _ => mode("auto"),
            },
            // A hosted tool that was dropped.
            _ => mode("auto"),
        },
        _ => {
            return Err(TranslateError::invalid(
                "`tool_choice` must be a string or an object",
            ));
        }
    })
}

/// `{"type": "function", "function": {"name": name}}`.
fn named_choice(name: String) -> ToolChoice {
    ToolChoice::Named(NamedToolChoice {
        function: Some(FunctionCall {
            arguments: None,
            name: Some(name),
            extra: Map::new(),
        }),
        kind: Some("function".to_owned()),
        extra: Map::new(),
    })
}
