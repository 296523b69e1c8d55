//! In-flight de-duplication: any number of callers that need the same account refreshed at
//! once cause exactly one refresh; all of them get its result.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

type Slot<T, E> = Arc<OnceCell<Result<T, E>>>;

pub struct RefreshGate<K, T, E> {
    in_flight: Mutex<HashMap<K, Slot<T, E>>>,
}

impl<K, T, E> Default for RefreshGate<K, T, E> {
    fn default() -> Self {
        Self {
            in_flight: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone, T: Clone, E: Clone> RefreshGate<K, T, E> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `refresh` for `key` unless a refresh for `key` is already running, in which
    /// case it waits for that one's result instead. A later call, after the result is in,
    /// starts a fresh refresh.
    pub async fn run<F, Fut>(&self, key: K, refresh: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let slot = {
            let mut map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(key.clone()).or_default().clone()
        };
        let result = slot.get_or_init(refresh).await.clone();
        let mut map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(&key).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
            map.remove(&key);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    // One thread: a task that has counted itself in runs on to its await inside the gate
    // before any other task runs, so "all arrived" means "all waiting in the gate".
    #[tokio::test(flavor = "current_thread")]
    async fn concurrent_callers_share_one_refresh() {
        let gate = Arc::new(RefreshGate::<&str, String, String>::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let arrived = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(tokio::sync::Notify::new());
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (gate, calls, arrived, release) = (
                gate.clone(),
                calls.clone(),
                arrived.clone(),
                release.clone(),
            );
            tasks.push(tokio::spawn(async move {
                arrived.fetch_add(1, Ordering::SeqCst);
                gate.run("acct", || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    release.notified().await;
                    Ok("token-2".to_owned())
                })
                .await
            }));
        }
        while arrived.load(Ordering::SeqCst) < 50 {
            tokio::task::yield_now().await;
        }
        release.notify_one();
        for t in tasks {
            assert_eq!(t.await.unwrap(), Ok("token-2".to_owned()));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        // After the result is in, the next call refreshes again.
        let again = gate
            .run("acct", || async { Ok("token-3".to_owned()) })
            .await;
        assert_eq!(again, Ok("token-3".to_owned()));
    }
}
