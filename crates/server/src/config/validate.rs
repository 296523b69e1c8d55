//! One validation of the file into the runtime [`Config`]: addresses, keys, providers and
//! their accounts, aliases, combos, routing and timeouts; the first thing wrong is an
//! [`Invalid`] that names the key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use switchyard_auth::Secret;

use super::Strategy;
use super::file::{
    ClientKeyFile, ComboFile, File, ProviderFile, RoutingFile, ServerFile, TimeoutsFile,
};
use super::{
    AccountConfig, ClientKey, ComboTarget, Config, Invalid, ProviderConfig, Routing, Timeouts,
    UnsetKey,
};

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |before| before.matches('\n').count())
        + 1
}

/// A provider's `base_url` must be usable as the start of every request URL: an absolute
/// `http://` or `https://` URL with a host and, if it names one, a port from 1 to 65535.
/// Anything less would start without complaint and fail every request with a 502.
fn check_base_url(url: &str) -> Result<(), Invalid> {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return Err(Invalid("must start with http:// or https://".into()));
    };
    if rest.split(['/', '?', '#']).next().is_none_or(str::is_empty) {
        return Err(Invalid("has no host".into()));
    }
    let uri: http::Uri = url
        .parse()
        .map_err(|e| Invalid(format!("is not a valid URL ({e})")))?;
    let authority = uri
        .authority()
        .map(http::uri::Authority::as_str)
        .unwrap_or("");
    // Any user info comes before the host and port.
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((host, rest)) => (host, rest.strip_prefix(':')),
            None => return Err(Invalid("has an unclosed [ in its host".into())),
        },
        None => match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return Err(Invalid("has no host".into()));
    }
    if let Some(port) = port.filter(|p| !p.is_empty()) {
        match port.parse::<u16>() {
            Ok(n) if n > 0 => {}
            _ => {
                return Err(Invalid(format!(
                    "has port {port}, not a number from 1 to 65535"
                )));
            }
        }
    }
    Ok(())
}

pub(super) fn validate(
    file: File,
    env: &dyn Fn(&str) -> Option<String>,
    text: &str,
) -> Result<Config, Invalid> {
    let mut warnings = Vec::new();
    let listen = server(&file.server)?;

    let client_keys = client_keys(file.client_keys, env)?;

    let mut providers: Vec<ProviderConfig> = Vec::new();
    for p in file.providers {
        if providers.iter().any(|q| q.name == p.name) {
            return Err(Invalid(format!("provider `{}` is declared twice", p.name)));
        }
        let (user_agent, strategy) = (&file.server.user_agent, file.routing.strategy);
        providers.push(provider(p, user_agent, strategy, env, text, &mut warnings)?);
    }

    for (alias, target) in &file.aliases {
        check_alias(alias, target, &providers)?;
    }
    let (combos, combo_strategies) = combos(file.combos, &file.aliases, &providers)?;

    let default_strategy = file.routing.strategy;
    let routing = routing(file.routing)?;
    let admin_key = server_secret(
        "admin_key",
        file.server.admin_key,
        file.server.admin_key_env,
        env,
    )?;
    let metrics_key = server_secret(
        "metrics_key",
        file.server.metrics_key,
        file.server.metrics_key_env,
        env,
    )?;

    let timeouts = timeouts(file.timeouts)?;
    let catalogue = crate::catalogue::Catalogue::builtin()
        .and_then(|c| c.with_overrides(&file.models))
        .map_err(|e| Invalid(e.to_string()))?;

    Ok(Config {
        listen,
        body_limit: file.server.body_limit,
        client_keys,
        database: file.storage.database,
        redis_url: file.cluster.redis_url.filter(|u| !u.trim().is_empty()),
        debug_logs: file.debug_logs.enabled,
        logs_dir: file.debug_logs.dir,
        timeouts,
        providers,
        aliases: file.aliases,
        combos,
        combo_strategies,
        routing,
        admin_key,
        metrics_key,
        overhead_header: file.server.overhead_header,
        cost_header: file.server.cost_header,
        catalogue: std::sync::Arc::new(catalogue),
        threads: file.server.threads,
        account_reload: Duration::from_millis(file.server.account_reload_ms.max(100)),
        // Beyond a few milliseconds polling only burns CPU: no peer answers that slowly
        // and still benefits from a faster wake-up.
        busy_poll: Duration::from_micros(file.server.busy_poll_us.min(10_000)),
        max_connections: file.server.max_connections,
        provider_defaults: (file.server.user_agent.clone(), default_strategy),
        warnings,
        file: PathBuf::new(),
    })
}

/// The `[server]` section's checks; its listening address.
fn server(server: &ServerFile) -> Result<SocketAddr, Invalid> {
    let listen: SocketAddr = server.listen.parse().map_err(|_| {
        Invalid(format!(
            "server.listen = {:?} is not an address like 127.0.0.1:4100",
            server.listen
        ))
    })?;
    if server.threads == 0 {
        return Err(Invalid("server.threads must be at least 1".into()));
    }
    if server.body_limit == 0 {
        return Err(Invalid("server.body_limit must be greater than 0".into()));
    }
    if server.max_connections == 0 {
        return Err(Invalid("server.max_connections must be at least 1".into()));
    }
    Ok(listen)
}

/// The combos' targets, and the strategies of those not tried in order.
type Combos = (
    BTreeMap<String, Vec<ComboTarget>>,
    BTreeMap<String, super::TargetStrategy>,
);

/// Each combo checked against the aliases and providers.
fn combos(
    files: Vec<ComboFile>,
    aliases: &BTreeMap<String, String>,
    providers: &[ProviderConfig],
) -> Result<Combos, Invalid> {
    let mut combos = BTreeMap::new();
    let mut combo_strategies = BTreeMap::new();
    for c in files {
        if aliases.contains_key(&c.name) || combos.contains_key(&c.name) {
            return Err(Invalid(format!(
                "combo `{}` is declared twice or clashes with an alias",
                c.name
            )));
        }
        let targets = combo_targets(&c.name, &c.targets, providers)?;
        if c.strategy != super::TargetStrategy::Order {
            combo_strategies.insert(c.name.clone(), c.strategy);
        }
        combos.insert(c.name, targets);
    }
    Ok((combos, combo_strategies))
}

/// The client keys, each with its key from the file or the environment.
fn client_keys(
    keys: Vec<ClientKeyFile>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<ClientKey>, Invalid> {
    let mut client_keys = Vec::new();
    for k in keys {
        let key = match (k.key, k.key_env) {
            (Some(key), None) => key,
            (None, Some(var)) => env(&var).ok_or_else(|| {
                Invalid(format!(
                    "client key `{}`: environment variable {var} is not set",
                    k.id
                ))
            })?,
            _ => {
                return Err(Invalid(format!(
                    "client key `{}`: set exactly one of `key` or `key_env`",
                    k.id
                )));
            }
        };
        if key.is_empty() {
            return Err(Invalid(format!("client key `{}` is empty", k.id)));
        }
        if client_keys.iter().any(|c: &ClientKey| c.id == k.id) {
            return Err(Invalid(format!("client key id `{}` is used twice", k.id)));
        }
        let key_budget = budget(
            &format!("client key `{}`", k.id),
            k.usd_per_day,
            k.usd_per_month,
        )?;
        client_keys.push(ClientKey {
            id: k.id,
            key: Secret::new(key),
            requests_per_minute: k.requests_per_minute,
            tokens_per_day: k.tokens_per_day,
            tokens_per_month: k.tokens_per_month,
            budget: key_budget,
        });
    }
    Ok(client_keys)
}

/// A provider defined through the management API: the JSON form of a `[[providers]]`
/// table, checked exactly as the file's are (unknown fields refused, the URL, models and
/// accounts checked), with the warnings it raised (an unset key variable).
pub fn stored_provider(
    definition: &serde_json::Value,
    running: &Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(ProviderConfig, Vec<String>), Invalid> {
    let table = toml::Value::try_from(without_nulls(definition.clone()))
        .map_err(|e| Invalid(format!("provider definition: {e}")))?;
    let text = toml::to_string(&table).map_err(|e| Invalid(format!("provider definition: {e}")))?;
    let p: ProviderFile = toml::from_str(&text)
        .map_err(|e| Invalid(format!("provider definition: {}", e.message())))?;
    let mut warnings = Vec::new();
    let (user_agent, strategy) = &running.provider_defaults;
    let p = provider(p, user_agent, *strategy, env, &text, &mut warnings)?;
    Ok((p, warnings))
}

/// JSON `null` stands for "not set"; TOML has no null, so such fields are left out.
fn without_nulls(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(without_nulls).collect())
        }
        other => other,
    }
}

/// One provider and its accounts; `user_agent` and `strategy` are the server's, for a
/// provider that sets none.
fn provider(
    p: ProviderFile,
    user_agent: &str,
    strategy: Strategy,
    env: &dyn Fn(&str) -> Option<String>,
    text: &str,
    warnings: &mut Vec<String>,
) -> Result<ProviderConfig, Invalid> {
    check_name("provider", &p.name)?;
    let base_url_line = line_of(text, p.base_url.span().start);
    let base_url = p.base_url.into_inner();
    check_base_url(&base_url).map_err(|e| {
        Invalid(format!(
            "line {base_url_line}: provider `{}`: base_url {base_url:?} {e}",
            p.name
        ))
    })?;
    for m in &p.models {
        check_model(m).map_err(|e| Invalid(format!("provider `{}`: {e}", p.name)))?;
    }
    let mut accounts = Vec::new();
    let mut unset_keys = Vec::new();
    for a in p.accounts {
        let key = match (a.api_key, a.api_key_env) {
            (Some(_), Some(_)) => {
                return Err(Invalid(format!(
                    "provider `{}` account `{}`: set only one of `api_key` or `api_key_env`",
                    p.name, a.name
                )));
            }
            (Some(key), None) => key,
            (None, Some(var)) => match env(&var) {
                Some(key) if !key.is_empty() => key,
                _ => {
                    warnings.push(format!(
                        "provider `{}` account `{}`: environment variable {var} is not set; the account is skipped",
                        p.name, a.name
                    ));
                    unset_keys.push(UnsetKey {
                        account: a.name,
                        var,
                    });
                    continue;
                }
            },
            // A local server that wants no key.
            (None, None) => String::new(),
        };
        if a.weight == 0 {
            return Err(Invalid(format!(
                "provider `{}` account `{}`: weight must be at least 1",
                p.name, a.name
            )));
        }
        if accounts.iter().any(|b: &AccountConfig| b.name == a.name) {
            return Err(Invalid(format!(
                "provider `{}` declares account `{}` twice",
                p.name, a.name
            )));
        }
        let account_budget = budget(
            &format!("account `{}/{}`", p.name, a.name),
            a.usd_per_day,
            a.usd_per_month,
        )?;
        accounts.push(AccountConfig {
            name: a.name,
            key: Secret::new(key),
            priority: a.priority,
            weight: a.weight,
            max_concurrency: a.max_concurrency,
            daily_requests: a.daily_requests,
            daily_tokens: a.daily_tokens,
            budget: account_budget,
        });
    }
    if accounts.is_empty() {
        warnings.push(format!("provider `{}` has no usable account", p.name));
    }
    let provider_budget = budget(
        &format!("provider `{}`", p.name),
        p.usd_per_day,
        p.usd_per_month,
    )?;
    Ok(ProviderConfig {
        name: p.name,
        kind: p.kind,
        base_url,
        models: p.models,
        accounts,
        user_agent: p.user_agent.unwrap_or_else(|| user_agent.to_owned()),
        headers: p.headers,
        options: p.options,
        strategy: p.strategy.unwrap_or(strategy),
        per_model_limits: p.per_model_limits,
        unset_keys,
        budget: provider_budget,
    })
}

/// A dollar budget: each cap, when given, a positive number of dollars.
fn budget(
    owner: &str,
    usd_per_day: Option<f64>,
    usd_per_month: Option<f64>,
) -> Result<crate::routing::budgets::Budget, Invalid> {
    for (key, v) in [
        ("usd_per_day", usd_per_day),
        ("usd_per_month", usd_per_month),
    ] {
        if let Some(v) = v
            && !(v.is_finite() && v > 0.0)
        {
            return Err(Invalid(format!(
                "{owner}: {key} = {v} must be a positive number of dollars"
            )));
        }
    }
    Ok(crate::routing::budgets::Budget {
        usd_per_day,
        usd_per_month,
    })
}

fn routing(r: RoutingFile) -> Result<Routing, Invalid> {
    if r.backoff_base_ms == 0 || r.backoff_max_ms < r.backoff_base_ms {
        return Err(Invalid(
            "routing.backoff_base_ms must be > 0 and at most routing.backoff_max_ms".into(),
        ));
    }
    Ok(Routing {
        sticky_limit: r.sticky_limit.max(1),
        backoff_base: Duration::from_millis(r.backoff_base_ms),
        backoff_max: Duration::from_millis(r.backoff_max_ms),
        disable_after: r.disable_after,
        probe_after: Duration::from_millis(r.probe_after_ms),
        session_header: r.session_header.to_ascii_lowercase(),
        session_ttl: Duration::from_secs(r.session_ttl_secs),
        day_offset_secs: parse_offset(&r.daily_reset_offset).ok_or_else(|| {
            Invalid(format!(
                "routing.daily_reset_offset {:?} must look like +02:00 or -05:30",
                r.daily_reset_offset
            ))
        })?,
        wildcard_strategy: r.wildcard_strategy,
    })
}

fn timeouts(t: TimeoutsFile) -> Result<Timeouts, Invalid> {
    for (name, v) in [
        ("connect_ms", t.connect_ms),
        ("first_byte_ms", t.first_byte_ms),
        ("idle_ms", t.idle_ms),
        ("total_ms", t.total_ms),
        ("client_header_ms", t.client_header_ms),
        ("client_body_ms", t.client_body_ms),
    ] {
        if v == 0 {
            return Err(Invalid(format!("timeouts.{name} must be greater than 0")));
        }
    }
    Ok(Timeouts {
        connect: Duration::from_millis(t.connect_ms),
        first_byte: Duration::from_millis(t.first_byte_ms),
        idle: Duration::from_millis(t.idle_ms),
        total: Duration::from_millis(t.total_ms),
        client_header: Duration::from_millis(t.client_header_ms),
        client_body: Duration::from_millis(t.client_body_ms),
        keepalive: (t.keepalive_ms > 0).then(|| Duration::from_millis(t.keepalive_ms)),
    })
}

/// A key of `[server]` given as `<name> = "..."` or `<name>_env = "VAR"`.
fn server_secret(
    name: &str,
    value: Option<String>,
    var: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Secret>, Invalid> {
    let key = match (value, var) {
        (Some(k), None) => k,
        (None, Some(var)) => env(&var).ok_or_else(|| {
            Invalid(format!(
                "server.{name}_env: environment variable {var} is not set"
            ))
        })?,
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(Invalid(format!(
                "set only one of server.{name} or server.{name}_env"
            )));
        }
    };
    if key.is_empty() {
        return Err(Invalid(format!("server.{name} is empty")));
    }
    Ok(Some(Secret::new(key)))
}

pub(super) fn check_alias(
    alias: &str,
    target: &str,
    providers: &[ProviderConfig],
) -> Result<(), Invalid> {
    check_model(alias).map_err(|e| Invalid(format!("alias: {e}")))?;
    let Some((provider, model)) = target.split_once('/') else {
        return Err(Invalid(format!(
            "alias `{alias}` = {target:?} must be `provider/model`"
        )));
    };
    check_model(model).map_err(|e| Invalid(format!("alias `{alias}`: {e}")))?;
    if !providers.iter().any(|p| p.name == provider) {
        return Err(Invalid(format!(
            "alias `{alias}` points to unknown provider `{provider}`"
        )));
    }
    Ok(())
}

/// A combo's steps, `provider/model` or `provider/model@account`, checked against the
/// providers.
pub(super) fn combo_targets(
    name: &str,
    steps: &[String],
    providers: &[ProviderConfig],
) -> Result<Vec<ComboTarget>, Invalid> {
    if name.contains('/') {
        return Err(Invalid(format!("combo name {name:?} must not contain '/'")));
    }
    check_model(name).map_err(|e| Invalid(format!("combo: {e}")))?;
    if steps.is_empty() {
        return Err(Invalid(format!("combo `{name}` has no targets")));
    }
    let mut targets = Vec::new();
    for t in steps {
        let (spec, account) = match t.rsplit_once('@') {
            Some((spec, account)) => (spec, Some(account.to_owned())),
            None => (t.as_str(), None),
        };
        let Some((provider, model)) = spec.split_once('/') else {
            return Err(Invalid(format!(
                "combo `{name}` target {t:?} must be `provider/model`"
            )));
        };
        check_model(model).map_err(|e| Invalid(format!("combo `{name}`: {e}")))?;
        let Some(p) = providers.iter().find(|p| p.name == provider) else {
            return Err(Invalid(format!(
                "combo `{name}` target {t:?} names unknown provider `{provider}`"
            )));
        };
        // Logged-in accounts live in the database, so only configured ones can be checked.
        if let Some(a) = &account
            && !p.accounts.is_empty()
            && !p.accounts.iter().any(|x| &x.name == a)
        {
            return Err(Invalid(format!(
                "combo `{name}` target {t:?} pins unknown account `{a}`"
            )));
        }
        targets.push(ComboTarget {
            provider: provider.to_owned(),
            model: model.to_owned(),
            account,
        });
    }
    Ok(targets)
}

/// "+02:00" -> 7200.
fn parse_offset(s: &str) -> Option<i32> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, s.get(1..)?),
        b'-' => (-1, s.get(1..)?),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 14 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

fn check_name(what: &str, name: &str) -> Result<(), Invalid> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Invalid(format!(
            "{what} name {name:?} must be 1-64 characters of letters, digits, '-', '_' or '.'"
        )))
    }
}

/// A model string: printable, no path tricks, bounded.
pub fn check_model(model: &str) -> Result<(), Invalid> {
    if model.is_empty() || model.len() > 256 {
        return Err(Invalid(format!(
            "model name {model:?} must be 1-256 characters"
        )));
    }
    // Empty segments too: an absolute path (`/etc/x`) or `a//b` is never a model id.
    if model
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
        || model
            .split('/')
            .any(|seg| seg.is_empty() || seg == ".." || seg == ".")
    {
        return Err(Invalid(format!(
            "model name {model:?} contains characters that are not allowed"
        )));
    }
    Ok(())
}
