//! How quickly each target (provider and model) has been answering: a moving average of
//! the time from sending a request upstream to its answer's first byte, kept in memory for
//! the `fastest` target strategy. A restart forgets it, which only means every target is
//! measured afresh.

use crate::state::FastMap as HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Weight of the newest measurement: recent enough to follow a provider that slows down,
/// smooth enough that one slow answer does not reorder a combo.
const ALPHA: f64 = 0.3;

#[derive(Debug, Default)]
pub struct Latencies {
    /// Provider name -> model -> average milliseconds (by name, not position: providers
    /// come and go while the server runs). Keyed in two levels so a lookup by `&str`
    /// allocates nothing; only a first measurement stores a `String`. foldhash: every
    /// request looks up here, and SipHash made that ~500 instructions.
    by_provider: Mutex<HashMap<String, HashMap<String, f64>>>,
}

impl Latencies {
    /// Takes in one measured time to first byte.
    pub fn observe(&self, provider: &str, model: &str, ttfb: Duration) {
        let ms = ttfb.as_secs_f64() * 1000.0;
        let mut map = self.by_provider.lock().unwrap_or_else(|p| p.into_inner());
        if !map.contains_key(provider) {
            map.insert(provider.to_owned(), HashMap::default());
        }
        let Some(models) = map.get_mut(provider) else {
            return;
        };
        match models.get_mut(model) {
            Some(avg) => *avg += ALPHA * (ms - *avg),
            None => {
                models.insert(model.to_owned(), ms);
            }
        }
    }

    /// The average for a target, in milliseconds; `None` until it has answered once.
    pub fn get(&self, provider: &str, model: &str) -> Option<f64> {
        let map = self.by_provider.lock().unwrap_or_else(|p| p.into_inner());
        map.get(provider)?.get(model).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_average_moves_toward_new_measurements() {
        let l = Latencies::default();
        assert_eq!(l.get("p0", "m"), None);
        l.observe("p0", "m", Duration::from_millis(100));
        assert_eq!(l.get("p0", "m"), Some(100.0));
        l.observe("p0", "m", Duration::from_millis(200));
        let avg = l.get("p0", "m").unwrap();
        assert!((avg - 130.0).abs() < 1e-9, "{avg}");
        assert_eq!(l.get("p1", "m"), None);
    }
}
