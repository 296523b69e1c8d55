//! Model strings: `provider/model`, aliases, and bare names a provider lists.

use serde_json::{Value, json};
use switchyard_hub::{ApiError, Format};

use crate::app::App;
use crate::config::check_model;

/// Where a model string leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub provider: usize,
    pub model: String,
}

pub fn resolve(app: &App, requested: &str) -> Result<Target, ApiError> {
    check_model(requested).map_err(ApiError::invalid_request)?;
    let spec = app
        .config
        .aliases
        .get(requested)
        .map_or(requested, String::as_str);
    if let Some((name, model)) = spec.split_once('/')
        && let Some(provider) = app.providers.iter().position(|p| p.name == name)
    {
        return Ok(Target {
            provider,
            model: model.to_owned(),
        });
    }
    if let Some(provider) = app
        .providers
        .iter()
        .position(|p| p.models.iter().any(|m| m == spec))
    {
        return Ok(Target {
            provider,
            model: spec.to_owned(),
        });
    }
    Err(ApiError::not_found(format!(
        "model `{requested}` is not configured: use `provider/model`, an alias, or an id from GET /v1/models"
    ))
    .with_code("model_not_found"))
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
    for alias in app.config.aliases.keys() {
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
