//! The model catalogue: per model, what it can take (context window, output limit,
//! modalities) and what it costs, so every usage row can be priced, budgets can be kept in
//! dollars and `max_tokens` kept within a model's limit. The shipped data is
//! `data/models.toml` (embedded, parsed strictly at start); `[[models]]` entries in the config
//! file replace or add to it.

pub mod discovery;

use crate::state::FastMap as HashMap;

use serde::Deserialize;
use switchyard_hub::Usage;

/// The catalogue as shipped.
pub const BUILTIN: &str = include_str!("../../../data/models.toml");

/// Where a catalogue entry came from, shown by `switchyard models` and kept in each usage
/// row's price version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Catalogue,
    Config,
    /// Set through the management API (`PUT /api/models/{id}`), kept in the database.
    Api,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Catalogue => "catalogue",
            Origin::Config => "config",
            Origin::Api => "api",
        }
    }
}

/// One model entry as written, in `data/models.toml` or a config file's `[[models]]`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub kinds: Vec<String>,
    pub context: u64,
    pub max_output: u64,
    #[serde(default = "text_only")]
    pub modalities: Vec<String>,
    /// Whether it can call tools (functions); `cheapest` and `fastest` routing pass over a
    /// model that cannot when the request declares tools.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub tools: bool,
    pub input: Option<f64>,
    pub output: Option<f64>,
    pub cache_read: Option<f64>,
    pub cache_write: Option<f64>,
    pub reasoning: Option<f64>,
    pub above: Option<TierEntry>,
    /// USD per second of video made (video models, which are not billed by the token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_second: Option<f64>,
    /// The day the numbers were read (YYYY-MM-DD); config entries default to "config".
    #[serde(default)]
    pub checked: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
}

/// A dearer tier for long prompts, as written.
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TierEntry {
    pub tokens: u64,
    pub input: f64,
    pub output: f64,
    pub cache_read: Option<f64>,
    pub cache_write: Option<f64>,
    pub reasoning: Option<f64>,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn text_only() -> Vec<String> {
    vec!["text".into()]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    subscription_kinds: Vec<String>,
    models: Vec<ModelEntry>,
}

/// USD per million tokens of each kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prices {
    pub input: f64,
    pub output: f64,
    pub cache_read: f64,
    pub cache_write: f64,
    pub reasoning: f64,
}

impl Prices {
    fn new(
        input: f64,
        output: f64,
        cache_read: Option<f64>,
        cache_write: Option<f64>,
        reasoning: Option<f64>,
    ) -> Prices {
        Prices {
            input,
            output,
            cache_read: cache_read.unwrap_or(input),
            cache_write: cache_write.unwrap_or(input),
            reasoning: reasoning.unwrap_or(output),
        }
    }

    /// The cost of `usage` at these prices. Hub usage counts every input token in
    /// `prompt_tokens` (cache reads and writes included, whatever the provider's own format
    /// does) and reasoning tokens inside `completion_tokens`, so each token is billed once,
    /// at the price of its kind.
    pub fn cost(&self, usage: &Usage) -> f64 {
        let cached = usage.cached_tokens.min(usage.prompt_tokens);
        let written = usage
            .cache_write_tokens
            .min(usage.prompt_tokens.saturating_sub(cached));
        let fresh = usage.prompt_tokens - cached - written;
        let reasoning = usage.reasoning_tokens.min(usage.completion_tokens);
        let visible = usage.completion_tokens - reasoning;
        let micro = fresh as f64 * self.input
            + cached as f64 * self.cache_read
            + written as f64 * self.cache_write
            + visible as f64 * self.output
            + reasoning as f64 * self.reasoning;
        micro / 1_000_000.0
    }
}

/// A model as the server uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub id: String,
    pub aliases: Vec<String>,
    pub kinds: Vec<String>,
    pub context: u64,
    pub max_output: u64,
    pub modalities: Vec<String>,
    pub tools: bool,
    /// `None`: described but not priced (recorded as "no price").
    pub prices: Option<Prices>,
    /// Prices for prompts above this many input tokens.
    pub above: Option<(u64, Prices)>,
    /// USD per second of video made.
    pub video_second: Option<f64>,
    pub checked: String,
    pub source: String,
    pub origin: Origin,
}

impl ModelInfo {
    /// The prices a request with `prompt_tokens` input tokens pays.
    pub fn prices_for(&self, prompt_tokens: u64) -> Option<Prices> {
        match self.above {
            Some((tokens, tier)) if prompt_tokens > tokens => Some(tier),
            _ => self.prices,
        }
    }

    /// What a usage row records as the price version: where the price came from and when
    /// it was checked.
    pub fn price_version(&self) -> String {
        format!("{}:{}", self.origin.as_str(), self.checked)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("data/models.toml: {0}")]
    Parse(String),
    #[error("{0}")]
    Invalid(String),
}

/// How a usage row's cost was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// Billed per token at the API price.
    Api,
    /// A subscription: what the same tokens would cost at the API price.
    Equivalent,
    /// The model is not in the catalogue or has no price.
    NoPrice,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Api => "api",
            Basis::Equivalent => "equivalent",
            Basis::NoPrice => "no price",
        }
    }
}

/// A priced request.
#[derive(Debug, Clone, PartialEq)]
pub struct Cost {
    /// `None` with [`Basis::NoPrice`].
    pub usd: Option<f64>,
    pub version: Option<String>,
    pub basis: Basis,
}

#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    models: Vec<ModelInfo>,
    /// kind -> loose id -> index in `models`; foldhash, as every priced request looks here,
    /// and nested so that a lookup borrows both strings.
    index: HashMap<String, HashMap<String, usize>>,
    subscription_kinds: Vec<String>,
}

/// An id with what differs between providers' spellings of the same model taken out: case,
/// dots for dashes (Kiro's `claude-sonnet-4.5`), a trailing date (`-20250929`, `-2025-08-07`)
/// and `-latest`.
pub fn loose_id(id: &str) -> String {
    loose_key(id).into_owned()
}

/// [`loose_id`] without allocating for an id already in lower case with dashes (what clients
/// and upstreams send nearly always): its loose form is a prefix of it. Every priced request
/// looks a model up; building the loose id cost several allocations a lookup.
fn loose_key(id: &str) -> std::borrow::Cow<'_, str> {
    let plain = id.bytes().all(|b| {
        b.is_ascii()
            && !b.is_ascii_uppercase()
            && !b.is_ascii_whitespace()
            && b != b'.'
            && b != b'_'
    });
    if plain {
        return std::borrow::Cow::Borrowed(without_loose_suffix(id));
    }
    let spelled: String = id
        .trim()
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            '.' | '_' => '-',
            c => c,
        })
        .collect();
    std::borrow::Cow::Owned(without_loose_suffix(&spelled).to_owned())
}

/// `id` without a trailing `-latest`, then without a trailing date (`-YYYY-MM-DD` or
/// `-YYYYMMDD`) that follows something (`20250929` alone stays).
fn without_loose_suffix(id: &str) -> &str {
    let id = id.strip_suffix("-latest").unwrap_or(id);
    let dated = |shape: &[u8]| {
        let b = id.as_bytes();
        b.len() > shape.len()
            && b[b.len() - shape.len() - 1] == b'-'
            && b[b.len() - shape.len()..].iter().zip(shape).all(|(c, s)| {
                if *s == b'd' {
                    c.is_ascii_digit()
                } else {
                    c == s
                }
            })
    };
    for shape in [&b"dddd-dd-dd"[..], &b"dddddddd"[..]] {
        if dated(shape) {
            return &id[..id.len() - shape.len() - 1];
        }
    }
    id
}

impl Catalogue {
    /// The shipped catalogue.
    pub fn builtin() -> Result<Catalogue, CatalogueError> {
        Catalogue::parse(BUILTIN)
    }

    /// Parses a catalogue file (the shipped one's format).
    pub fn parse(text: &str) -> Result<Catalogue, CatalogueError> {
        let file: CatalogueFile =
            toml::from_str(text).map_err(|e| CatalogueError::Parse(e.to_string()))?;
        let mut c = Catalogue {
            subscription_kinds: file.subscription_kinds,
            ..Catalogue::default()
        };
        for (i, entry) in file.models.into_iter().enumerate() {
            let info = to_info(entry, Origin::Catalogue).map_err(|e| {
                CatalogueError::Invalid(format!("data/models.toml: models[{i}]: {e}"))
            })?;
            c.insert(info, false)?;
        }
        Ok(c)
    }

    /// Adds the config file's `[[models]]`: an entry replaces the shipped one for the kinds
    /// it names, or adds a model.
    pub fn with_overrides(self, entries: &[ModelEntry]) -> Result<Catalogue, CatalogueError> {
        self.overlay(entries, Origin::Config)
    }

    /// Adds the entries set through the management API, over the file's.
    pub fn with_api_overrides(self, entries: &[ModelEntry]) -> Result<Catalogue, CatalogueError> {
        self.overlay(entries, Origin::Api)
    }

    fn overlay(
        mut self,
        entries: &[ModelEntry],
        origin: Origin,
    ) -> Result<Catalogue, CatalogueError> {
        for (i, entry) in entries.iter().enumerate() {
            let info = to_info(entry.clone(), origin)
                .map_err(|e| CatalogueError::Invalid(format!("models[{i}]: {e}")))?;
            self.insert(info, true)?;
        }
        Ok(self)
    }

    fn insert(&mut self, info: ModelInfo, replace: bool) -> Result<(), CatalogueError> {
        let at = self.models.len();
        let names: Vec<String> = std::iter::once(&info.id)
            .chain(&info.aliases)
            .map(|n| loose_id(n))
            .collect();
        for kind in &info.kinds {
            let by_name = self.index.entry(kind.clone()).or_default();
            for name in &names {
                if !replace
                    && let Some(&other) = by_name.get(name)
                    && other != at
                {
                    return Err(CatalogueError::Invalid(format!(
                        "data/models.toml: `{name}` for kind `{kind}` is listed twice ({} and {})",
                        self.models[other].id, info.id
                    )));
                }
                by_name.insert(name.clone(), at);
            }
        }
        self.models.push(info);
        Ok(())
    }

    /// The entry for `model` served by a provider of `kind`.
    pub fn find(&self, kind: &str, model: &str) -> Option<&ModelInfo> {
        let i = self.index.get(kind)?.get(loose_key(model).as_ref())?;
        self.models.get(*i)
    }

    /// Every entry in force (a replaced shipped entry is left out), in file order.
    pub fn models(&self) -> Vec<&ModelInfo> {
        let live: std::collections::BTreeSet<usize> = self
            .index
            .values()
            .flat_map(|m| m.values().copied())
            .collect();
        live.into_iter()
            .filter_map(|i| self.models.get(i))
            .collect()
    }

    /// Whether a provider of `kind` is a subscription (priced as an API equivalent).
    pub fn is_subscription(&self, kind: &str) -> bool {
        self.subscription_kinds.iter().any(|k| k == kind)
    }

    /// Prices `usage` of `model` served by a provider of `kind`; `subscription` marks a
    /// login-based account of a kind that is otherwise billed per token (a Claude Code login).
    /// The cost of `seconds` of video from `model` at `kind`, where the entry prices them.
    pub fn video_cost(&self, kind: &str, model: &str, seconds: f64) -> Cost {
        let info = self.find(kind, model);
        match info.and_then(|i| i.video_second.map(|p| (i, p))) {
            Some((info, per_second)) => Cost {
                usd: Some(per_second * seconds),
                version: Some(info.price_version()),
                basis: Basis::Api,
            },
            None => Cost {
                usd: None,
                version: info.map(ModelInfo::price_version),
                basis: Basis::NoPrice,
            },
        }
    }

    pub fn cost(&self, kind: &str, model: &str, subscription: bool, usage: &Usage) -> Cost {
        let Some(info) = self.find(kind, model) else {
            return Cost {
                usd: None,
                version: None,
                basis: Basis::NoPrice,
            };
        };
        let Some(prices) = info.prices_for(usage.prompt_tokens) else {
            return Cost {
                usd: None,
                version: Some(info.price_version()),
                basis: Basis::NoPrice,
            };
        };
        let basis = if subscription || self.is_subscription(kind) {
            Basis::Equivalent
        } else {
            Basis::Api
        };
        Cost {
            usd: Some(prices.cost(usage)),
            version: Some(info.price_version()),
            basis,
        }
    }
}

/// Provider kinds the catalogue may name.
const KINDS: [&str; 9] = [
    "claude",
    "codex",
    "copilot",
    "cursor",
    "gemini",
    "gemini-cli",
    "kiro",
    "openai",
    "openai-responses",
];

fn to_info(e: ModelEntry, origin: Origin) -> Result<ModelInfo, String> {
    let id = e.id.trim().to_owned();
    if id.is_empty() {
        return Err("`id` is empty".into());
    }
    if e.kinds.is_empty() {
        return Err(format!("`{id}`: `kinds` names no provider kind"));
    }
    if let Some(k) = e.kinds.iter().find(|k| !KINDS.contains(&k.as_str())) {
        return Err(format!(
            "`{id}`: unknown kind `{k}` in `kinds` (one of: {})",
            KINDS.join(", ")
        ));
    }
    if e.context == 0 || e.max_output == 0 {
        return Err(format!(
            "`{id}`: `context` and `max_output` must be above 0"
        ));
    }
    let checked = match (e.checked, origin) {
        (Some(d), _) if valid_date(&d) => d,
        (Some(d), _) => {
            return Err(format!(
                "`{id}`: `checked` = \"{d}\" is not a YYYY-MM-DD date"
            ));
        }
        (None, Origin::Config) => "config".into(),
        (None, Origin::Api) => "api".into(),
        (None, Origin::Catalogue) => return Err(format!("`{id}`: `checked` is missing")),
    };
    let source = match (e.source, origin) {
        (Some(s), _) if !s.trim().is_empty() => s,
        (_, Origin::Config) => "config file".into(),
        (_, Origin::Api) => "management API".into(),
        (_, Origin::Catalogue) => return Err(format!("`{id}`: `source` is missing")),
    };
    let prices = match (e.input, e.output) {
        (Some(i), Some(o)) => Some(Prices::new(i, o, e.cache_read, e.cache_write, e.reasoning)),
        (None, None) if e.cache_read.is_none() && e.cache_write.is_none() && e.above.is_none() => {
            None
        }
        _ => {
            return Err(format!(
                "`{id}`: a priced model needs both `input` and `output`"
            ));
        }
    };
    let above = e.above.map(|t| {
        (
            t.tokens,
            Prices::new(t.input, t.output, t.cache_read, t.cache_write, t.reasoning),
        )
    });
    let all: Vec<f64> = prices
        .iter()
        .chain(above.iter().map(|a| &a.1))
        .flat_map(|p| [p.input, p.output, p.cache_read, p.cache_write, p.reasoning])
        .collect();
    if all
        .iter()
        .chain(e.video_second.iter())
        .any(|p| !p.is_finite() || *p < 0.0)
    {
        return Err(format!("`{id}`: prices must be zero or more"));
    }
    Ok(ModelInfo {
        id,
        aliases: e.aliases,
        kinds: e.kinds,
        context: e.context,
        max_output: e.max_output,
        modalities: e.modalities,
        tools: e.tools,
        prices,
        above,
        video_second: e.video_second,
        checked,
        source,
        origin,
    })
}

fn valid_date(d: &str) -> bool {
    chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok()
}

#[cfg(test)]
mod tests;
