//! Model strings: `provider/model`, aliases, and bare names a provider lists.

use serde_json::{Value, json};
use switchyard_hub::ApiError;

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

/// `GET /v1/models`: every configured `provider/model` and alias.
pub fn list(app: &App) -> Value {
    let mut data = Vec::new();
    for p in &app.providers {
        for m in &p.models {
            data.push(json!({"id": format!("{}/{m}", p.name), "object": "model", "created": 0, "owned_by": p.name}));
        }
    }
    for alias in app.config.aliases.keys() {
        data.push(json!({"id": alias, "object": "model", "created": 0, "owned_by": "switchyard"}));
    }
    json!({"object": "list", "data": data})
}
