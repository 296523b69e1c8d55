//! The turn counter of each `round-robin` combo: which of its targets the next request
//! starts at. Kept in memory per server (a restart starts every combo at its first target
//! again, which only shifts the rotation), keyed by combo name so a combo edited while the
//! server runs keeps its place.

use std::collections::HashMap;
use std::sync::Mutex;

/// The most counters kept. A wildcard's counter is keyed by the model string the client
/// sent, so without a bound distinct strings would grow the map for ever; past it the
/// counters start over, which only shifts where each rotation stands.
const MAX_COUNTERS: usize = 1024;

#[derive(Debug, Default)]
pub struct Rotations {
    next: Mutex<HashMap<String, usize>>,
}

impl Rotations {
    /// The target the next request of `combo` starts at, among `len`, and moves the combo
    /// on by one.
    pub fn take(&self, combo: &str, len: usize) -> usize {
        if len == 0 {
            return 0;
        }
        let mut map = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let slot = match map.get_mut(combo) {
            Some(slot) => slot,
            None => {
                if map.len() >= MAX_COUNTERS {
                    map.clear();
                }
                map.entry(combo.to_owned()).or_insert(0)
            }
        };
        let start = *slot % len;
        *slot = (start + 1) % len;
        start
    }

    /// The target the next request of `combo` would start at, among `len`, without moving
    /// the combo on: for a request that is not a turn (a token count).
    pub fn peek(&self, combo: &str, len: usize) -> usize {
        if len == 0 {
            return 0;
        }
        let map = self.next.lock().unwrap_or_else(|p| p.into_inner());
        map.get(combo).map_or(0, |slot| *slot % len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_combo_turns_on_its_own() {
        let r = Rotations::default();
        let a: Vec<usize> = (0..5).map(|_| r.take("a", 3)).collect();
        assert_eq!(a, [0, 1, 2, 0, 1]);
        assert_eq!(r.take("b", 3), 0);
        // A combo that lost a target keeps turning within its new length.
        assert_eq!(r.take("a", 2), 0);
        assert_eq!(r.take("a", 0), 0);
    }

    #[test]
    fn a_peek_does_not_turn_the_combo() {
        let r = Rotations::default();
        assert_eq!(r.peek("a", 3), 0);
        assert_eq!(r.take("a", 3), 0);
        assert_eq!(r.peek("a", 3), 1);
        assert_eq!(r.peek("a", 3), 1);
        assert_eq!(r.take("a", 3), 1);
        assert_eq!(r.peek("a", 0), 0);
    }

    #[test]
    fn client_chosen_names_cannot_grow_the_counters_past_the_bound() {
        let r = Rotations::default();
        for i in 0..10 * MAX_COUNTERS {
            r.take(&format!("*/model-{i}*"), 2);
        }
        let held = r.next.lock().unwrap().len();
        assert!(held <= MAX_COUNTERS, "{held} counters");
    }
}
