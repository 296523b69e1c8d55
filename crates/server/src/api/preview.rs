//! `GET /api/routing/preview?model=...`: where a request for a model would go now. The targets
//! the model string resolves to, in order, and for each the accounts in the order its strategy
//! would try them, plus those that are out and why; nothing is sent and no rotation moves.

use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::{Answer, body, ok};
use crate::request::resolve;
use crate::routing::day_number;
use crate::routing::health::Unavailable;
use crate::routing::select::{self, Want};
use crate::state::app::App;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// A model string as a client would send it: `provider/model`, an alias, a combo...
    pub model: String,
}

/// Where a request for `model` would go now.
#[derive(Debug, Serialize, ToSchema)]
pub struct Preview {
    pub model: String,
    /// The combo the model string names, if it names one.
    pub combo: Option<String>,
    /// `provider/model@account` of the account that would answer first, if any can.
    pub first: Option<String>,
    pub targets: Vec<TargetPreview>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TargetPreview {
    pub provider: String,
    pub model: String,
    /// The one account a combo step is pinned to.
    pub pinned_account: Option<String>,
    /// The accounts that can take the request, in the order they would be tried.
    pub ready: Vec<String>,
    pub out: Vec<OutAccount>,
}

/// An account that would not be tried now, and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutAccount {
    pub account: String,
    /// `cooling`, `set aside`, `daily limit`, `busy`, `needs login` or `not the pinned account`.
    pub reason: String,
    /// RFC 3339, when it is back, if known.
    pub until: Option<String>,
}

/// Shows where a request for `model` would go now: its targets in order, each with the
/// accounts in the order they would be tried and those that are out and why. Nothing is sent
/// and no rotation moves.
#[utoipa::path(
    get,
    path = "/api/routing/preview",
    tag = "routing",
    params(PreviewQuery),
    responses(
        (status = 200, description = "Where the request would go now", body = Preview),
        (status = 400, description = "No model given", body = super::openapi::ErrorBody),
        (status = 404, description = "The model string names nothing configured", body = super::openapi::ErrorBody),
    )
)]
pub fn handle(app: &Arc<App>, query: Option<&str>) -> Answer {
    let q: PreviewQuery = body::query(query)?;
    ok(200, &preview(app, &q.model)?)
}

/// Resolves `model` and orders each target's accounts as a request would, without moving any
/// rotation.
pub fn preview(app: &App, model: &str) -> Result<Preview, switchyard_hub::ApiError> {
    let live = app.snapshot();
    let resolved = resolve::resolve(&live, model)?;
    let now = switchyard_hub::clock::now();
    let routing = &live.config.routing;
    let today = day_number(now, routing.day_offset_secs);
    let mut targets = Vec::with_capacity(resolved.targets.len());
    for t in &resolved.targets {
        let Some(provider) = live.providers.get(t.provider) else {
            continue;
        };
        let want = Want {
            model: &t.model,
            pin: t.account.as_deref(),
            preferred: None,
            now,
            today,
            day_offset_secs: routing.day_offset_secs,
            sticky_limit: routing.sticky_limit,
            peek: true,
        };
        let ordered = select::order(provider, &want);
        let ready: Vec<String> = ordered.accounts.iter().map(|a| a.name.clone()).collect();
        let out = provider
            .accounts()
            .iter()
            .filter(|a| !ready.contains(&a.name))
            .map(|a| {
                let (reason, until) = if t.account.as_deref().is_some_and(|p| p != a.name) {
                    ("not the pinned account", None)
                } else if a.credential.needs_login() {
                    ("needs login", None)
                } else {
                    match a.lock_health().check(&t.model, now) {
                        Err(Unavailable::Cooling(u)) => ("cooling", Some(u)),
                        Err(Unavailable::Disabled(u)) => ("set aside", Some(u)),
                        Err(Unavailable::DailyLimit(u)) => ("daily limit", Some(u)),
                        Err(Unavailable::Busy) => ("busy", None),
                        Ok(()) if a.max_concurrency.is_some() => ("busy", None),
                        Ok(()) => ("daily limit", None),
                    }
                };
                OutAccount {
                    account: a.name.clone(),
                    reason: reason.into(),
                    until: until.map(rfc3339),
                }
            })
            .collect();
        targets.push(TargetPreview {
            provider: provider.name.clone(),
            model: t.model.clone(),
            pinned_account: t.account.clone(),
            ready,
            out,
        });
    }
    let first = targets.iter().find_map(|t| {
        t.ready
            .first()
            .map(|a| format!("{}/{}@{a}", t.provider, t.model))
    });
    Ok(Preview {
        model: model.to_owned(),
        combo: resolved.combo,
        first,
        targets,
    })
}

fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339()
}
