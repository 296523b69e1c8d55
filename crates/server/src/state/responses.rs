//! The Responses API's `previous_response_id` for providers that keep nothing: the ChatGPT
//! backend (`store: false` always), every chat, Claude and Gemini provider, and Codex over a
//! WebSocket, which sends only the new items with the id of the response before. For each
//! response Switchyard answered in the Responses format it keeps, in memory, that request's
//! own input items, the output items it returned and the id it continued; a later request
//! naming the id is expanded into the whole conversation before it is translated.
//!
//! In memory only, so a restart forgets every id (the client then gets
//! `previous_response_not_found`, as from an expired id at OpenAI). Bounded by count, by
//! bytes and by age; the oldest go first. Items are kept as their JSON text, parsed again only
//! when a request continues them: as `Value`s the same items took several times their text's
//! bytes (a map node per object), so the byte bound did not bound memory, and 4,096 short
//! answers held ~12 MB (the bench's peak RSS rose by that once every answer got its own id).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_hub::ApiError;

/// Responses kept at most. A Codex turn is one response per model call; this covers a few
/// hundred long sessions.
const MAX_RESPONSES: usize = 4096;
/// Bytes of JSON kept at most (inputs and outputs, as serialised). A Codex request without
/// `previous_response_id` carries its whole history (about 40 KB at the start, growing), so
/// this holds roughly a thousand such turns; a WebSocket turn holds only its new items.
const MAX_BYTES: usize = 96 * 1024 * 1024;
/// How long an id can be continued. Long enough for a coding session that pauses for a
/// meeting; the real API keeps stored responses longer, but it keeps them on disk.
const MAX_AGE: Duration = Duration::from_secs(6 * 3600);
/// The longest chain of ids followed back, so a cycle or a runaway chain costs nothing.
const MAX_CHAIN: usize = 10_000;

/// One response, as it continues the conversation.
struct Entry {
    /// The response it continued, if any.
    previous: Option<String>,
    /// The request's own `input` items (without the ones `previous` stands for), as a JSON
    /// array; shared so a conversation is read out of the lock.
    input: Arc<str>,
    /// The output items the client was sent, as a JSON array.
    output: Arc<str>,
    /// The provider that answered (empty for a response answered here, a warm-up).
    provider: String,
    /// Whether the request let the provider store the response (`store` not false).
    upstream_kept: bool,
    bytes: usize,
    at: Instant,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    /// Insertion order, oldest first, for eviction.
    order: VecDeque<String>,
    bytes: usize,
}

/// The responses kept for expansion (see the module header).
#[derive(Default)]
pub struct ResponseStore {
    inner: Mutex<Inner>,
}

/// What a Responses request needs remembered once its answer is known: its own input and
/// the id it continued.
#[derive(Clone, Debug)]
pub struct Pending {
    pub previous: Option<String>,
    pub input: Vec<Value>,
    /// `store` was not false: a provider that stores responses kept this one too.
    pub upstream_kept: bool,
}

impl Pending {
    /// What `body` (a Responses request) contributes to the conversation; `None` when it is
    /// not a generate request the store can continue (no usable `input`).
    pub fn of(body: &Value) -> Option<Pending> {
        let input = input_items(body.get("input")?)?;
        let previous = body
            .get("previous_response_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let upstream_kept = body.get("store").and_then(Value::as_bool) != Some(false);
        Some(Pending {
            previous,
            input,
            upstream_kept,
        })
    }
}

/// `input` as a list of items: a string is one user message.
pub fn input_items(input: &Value) -> Option<Vec<Value>> {
    match input {
        Value::String(text) => Some(vec![json!({
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        })]),
        Value::Array(items) => Some(items.clone()),
        _ => None,
    }
}

/// The error the real API gives for an id it does not know.
pub fn not_found(id: &str) -> ApiError {
    ApiError::invalid_request(format!("Previous response with id '{id}' not found."))
        .with_code("previous_response_not_found")
}

impl ResponseStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves nothing half-written that matters here.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps response `id` (answered by `provider`) for later expansion.
    pub fn remember(&self, id: &str, provider: &str, mut pending: Pending, output: Vec<Value>) {
        if id.is_empty() {
            return;
        }
        let mut inner = self.lock();
        // An upstream that gives every response the same id (some compatible servers do,
        // and translated ids derive from the upstream's) would make the turn continue
        // itself: the turn it continues is folded in instead, so the chain stays whole.
        if pending.previous.as_deref() == Some(id) {
            pending.previous = None;
            if let Some(old) = inner.entries.get(id) {
                let mut input = items(&old.input);
                input.extend(items(&old.output));
                input.append(&mut pending.input);
                pending.input = input;
                pending.previous = old.previous.clone();
            }
        }
        let (input, output) = (text(&pending.input), text(&output));
        let bytes = input.len() + output.len() + id.len();
        if bytes > MAX_BYTES {
            return;
        }
        let entry = Entry {
            previous: pending.previous,
            input,
            output,
            provider: provider.to_owned(),
            upstream_kept: pending.upstream_kept,
            bytes,
            at: Instant::now(),
        };
        if let Some(old) = inner.entries.remove(id) {
            inner.bytes -= old.bytes;
            inner.order.retain(|k| k != id);
        }
        inner.bytes += bytes;
        inner.entries.insert(id.to_owned(), entry);
        inner.order.push_back(id.to_owned());
        while inner.entries.len() > MAX_RESPONSES || inner.bytes > MAX_BYTES {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some(old) = inner.entries.remove(&oldest) {
                inner.bytes -= old.bytes;
            }
        }
    }

    /// Whether a request naming `id` can go as it is to `provider`, a provider that stores
    /// responses itself: when the id is not one of ours (the provider issued it, or nobody
    /// did, which it will say), or when that provider answered it and was let store it.
    pub fn upstream_has(&self, id: &str, provider: &str) -> bool {
        let inner = self.lock();
        match inner.entries.get(id).filter(|e| e.at.elapsed() < MAX_AGE) {
            None => true,
            Some(e) => e.upstream_kept && e.provider == provider,
        }
    }

    /// The whole conversation up to and including response `id`: every input and output
    /// item of the chain, oldest first. `None` when `id` or any response it continued is
    /// gone (or never was).
    pub fn conversation(&self, id: &str) -> Option<Vec<Value>> {
        let mut chain = Vec::new();
        {
            let inner = self.lock();
            let mut next = Some(id);
            while let Some(id) = next {
                let entry = inner.entries.get(id).filter(|e| e.at.elapsed() < MAX_AGE)?;
                if chain.len() >= MAX_CHAIN {
                    return None;
                }
                chain.push((entry.input.clone(), entry.output.clone()));
                next = entry.previous.as_deref();
            }
        }
        let mut all = Vec::new();
        for (input, output) in chain.iter().rev() {
            all.extend(items(input));
            all.extend(items(output));
        }
        Some(all)
    }
}

/// Items as the JSON array text the store keeps.
fn text(items: &[Value]) -> Arc<str> {
    // Serialising a Value cannot fail (its map keys are strings).
    serde_json::to_string(items).unwrap_or_default().into()
}

/// Items back from [`text`]'s output, which always parses.
fn items(text: &str) -> Vec<Value> {
    serde_json::from_str(text).unwrap_or_default()
}

/// Replaces `previous_response_id` in a Responses body with the conversation it stands for:
/// the kept items, then the body's own input. The id unknown is the client's error.
pub fn expand(store: &ResponseStore, body: &mut Value) -> Result<(), ApiError> {
    let Some(id) = body
        .get("previous_response_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return Ok(());
    };
    let mut items = store.conversation(&id).ok_or_else(|| not_found(&id))?;
    let own = body.get("input").and_then(input_items).unwrap_or_default();
    items.extend(own);
    if let Some(obj) = body.as_object_mut() {
        obj.remove("previous_response_id");
        obj.insert("input".into(), Value::Array(items));
    }
    Ok(())
}

/// What the store needs of a finished response object: its id and output items.
pub fn answered(response: &Value) -> Option<(String, Vec<Value>)> {
    let id = response.get("id")?.as_str()?.to_owned();
    let output = response
        .get("output")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Some((id, output))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(text: &str) -> Value {
        json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
    }

    #[test]
    fn a_chain_expands_to_every_turn_in_order() {
        let store = ResponseStore::default();
        let first = Pending::of(&json!({"input": "one"})).unwrap();
        store.remember(
            "r1",
            "p",
            first,
            vec![json!({"type": "message", "id": "a1"})],
        );
        let second =
            Pending::of(&json!({"input": [user("two")], "previous_response_id": "r1"})).unwrap();
        store.remember(
            "r2",
            "p",
            second,
            vec![json!({"type": "message", "id": "a2"})],
        );
        let mut body = json!({"model": "m", "input": "three", "previous_response_id": "r2"});
        expand(&store, &mut body).unwrap();
        assert!(body.get("previous_response_id").is_none());
        let input = body["input"].as_array().unwrap();
        assert_eq!(input.len(), 5);
        assert_eq!(input[0], user("one"));
        assert_eq!(input[1]["id"], "a1");
        assert_eq!(input[2], user("two"));
        assert_eq!(input[3]["id"], "a2");
        assert_eq!(input[4], user("three"));
    }

    #[test]
    fn an_upstream_that_reuses_its_id_still_continues() {
        let store = ResponseStore::default();
        let first = Pending::of(&json!({"input": "one"})).unwrap();
        store.remember("same", "p", first, vec![json!({"id": "a1"})]);
        let second = Pending::of(&json!({"input": "two", "previous_response_id": "same"})).unwrap();
        store.remember("same", "p", second, vec![json!({"id": "a2"})]);
        let items = store.conversation("same").unwrap();
        assert_eq!(items.len(), 4);
        assert_eq!(items[0], user("one"));
        assert_eq!(items[3]["id"], "a2");
    }

    /// What is kept is the items' JSON text, counted against the byte bound as such.
    #[test]
    fn items_are_kept_as_their_text() {
        let store = ResponseStore::default();
        let item = json!({"type": "message", "id": "a1", "content": [{"type": "output_text", "text": "hi"}]});
        let pending = Pending::of(&json!({"input": "one"})).unwrap();
        store.remember("r1", "p", pending.clone(), vec![item.clone()]);
        let inner = store.lock();
        let entry = &inner.entries["r1"];
        assert_eq!(&*entry.output, serde_json::to_string(&[&item]).unwrap());
        assert_eq!(
            &*entry.input,
            serde_json::to_string(&pending.input).unwrap()
        );
        assert_eq!(inner.bytes, entry.input.len() + entry.output.len() + 2);
    }

    #[test]
    fn an_unknown_id_is_the_clients_error() {
        let store = ResponseStore::default();
        let mut body = json!({"input": "x", "previous_response_id": "resp_nope"});
        let err = expand(&store, &mut body).unwrap_err();
        assert_eq!(err.status, 400);
        assert_eq!(err.code, Some("previous_response_not_found"));
        assert!(err.message.contains("resp_nope"));
    }

    #[test]
    fn the_oldest_go_when_the_count_is_reached() {
        let store = ResponseStore::default();
        for i in 0..=MAX_RESPONSES {
            let pending = Pending::of(&json!({"input": "x"})).unwrap();
            store.remember(&format!("r{i}"), "p", pending, Vec::new());
        }
        assert!(store.conversation("r0").is_none());
        assert!(store.conversation("r1").is_some());
        assert!(store.upstream_has("r1", "p"));
        assert!(!store.upstream_has("r1", "other"));
        assert!(store.upstream_has("resp_not_ours", "other"));
    }
}
