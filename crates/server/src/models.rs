//! Model strings: `provider/model`, aliases, and bare names a provider lists.

use serde_json::{Value, json};
use switchyard_hub::{ApiError, Format};

use crate::app::App;
use crate::config::check_model;

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
}

/// Resolves a model string: a combo, an alias, `provider/model`, a wildcard such as
/// `*/claude-*` (every listed model that matches, providers in config order), or a bare
/// model a provider lists.
pub fn resolve(app: &App, requested: &str) -> Result<Resolved, ApiError> {
    check_model(requested).map_err(ApiError::invalid_request)?;
    let provider_index = |name: &str| app.providers.iter().position(|p| p.name == name);
    if let Some(steps) = app.config.combos.get(requested) {
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
        });
    }
    let spec = app
        .config
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
    };
    if spec.contains('*') {
        let (p_glob, m_glob) = spec.split_once('/').unwrap_or(("*", spec));
        let targets: Vec<Target> = app
            .providers
            .iter()
            .enumerate()
            .filter(|(_, p)| glob(p_glob, &p.name))
            .flat_map(|(i, p)| {
                p.models
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
            });
        }
    } else if let Some((name, model)) = spec.split_once('/')
        && let Some(provider) = provider_index(name)
    {
        return Ok(one(provider, model));
    } else if let Some(provider) = app
        .providers
        .iter()
        .position(|p| p.models.iter().any(|m| m == spec))
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

/// The model list (`GET /v1/models`, `GET /v1beta/models`) in `format`'s shape: every
/// configured `provider/model` and alias.
pub fn list(app: &App, format: Format) -> Value {
    let mut ids: Vec<(String, &str)> = Vec::new();
    for p in &app.providers {
        for m in &p.models {
            ids.push((format!("{}/{m}", p.name), p.name.as_str()));
        }
    }
    for alias in app.config.aliases.keys().chain(app.config.combos.keys()) {
        ids.push((alias.clone(), "switchyard"));
    }
    match format {
        Format::Claude => {
            let data: Vec<Value> = ids
                .iter()
                .map(|(id, _)| json!({"type": "model", "id": id, "display_name": id, "created_at": "1970-01-01T00:00:00Z"}))
                .collect();
            json!({"data": data, "has_more": false, "first_id": ids.first().map(|i| &i.0), "last_id": ids.last().map(|i| &i.0)})
        }
        Format::Gemini => {
            let models: Vec<Value> = ids
                .iter()
                .map(|(id, _)| json!({
                    "name": format!("models/{id}"), "displayName": id,
                    "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
                }))
                .collect();
            json!({"models": models})
        }
        _ => {
            let data: Vec<Value> = ids
                .iter()
                .map(|(id, owner)| json!({"id": id, "object": "model", "created": 0, "owned_by": owner}))
                .collect();
            json!({"object": "list", "data": data})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::glob;

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
}
