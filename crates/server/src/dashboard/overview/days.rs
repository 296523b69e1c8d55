//! The overview's fold of past whole days, kept between page loads: a day's rollup rows never
//! change once the day is over, so folding a 30-day range need only read today's (and a
//! leading part-day's) rollup rows. The exception is a row that lands late in a past day (a
//! request that started before midnight and finished after, a slow writer): each load reads
//! the `usage` rows written since the last one (by `id`, so a few rows, not a scan) and drops
//! the cached days any of them fell in.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, params};

pub const DAY_MS: i64 = 86_400_000;

/// Sums of one stretch of rollup rows: per hour (requests, errors, tokens) and the three top
/// lists' (requests, tokens, errors) per model, provider and client key.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Fold {
    pub hours: HashMap<i64, (i64, i64, i64)>,
    pub tops: [HashMap<String, (i64, i64, i64)>; 3],
}

impl Fold {
    pub fn add(&mut self, other: &Fold) {
        for (h, v) in &other.hours {
            let e = self.hours.entry(*h).or_default();
            e.0 += v.0;
            e.1 += v.1;
            e.2 += v.2;
        }
        for (mine, theirs) in self.tops.iter_mut().zip(&other.tops) {
            for (name, v) in theirs {
                let e = match mine.get_mut(name) {
                    Some(e) => e,
                    None => mine.entry(name.clone()).or_default(),
                };
                e.0 += v.0;
                e.1 += v.1;
                e.2 += v.2;
            }
        }
    }
}

/// One pass over the rollup rows of `[lo, hi)`: three `GROUP BY`s would sort them three times.
pub fn fold(conn: &Connection, lo: i64, hi: i64) -> rusqlite::Result<Fold> {
    let mut stmt = conn.prepare_cached(
        "SELECT hour_ms, model, provider, client_key, requests, errors,
                prompt_tokens + completion_tokens
         FROM usage_hourly WHERE hour_ms >= ?1 AND hour_ms < ?2",
    )?;
    let mut out = Fold::default();
    let mut rows = stmt.query(params![lo, hi])?;
    while let Some(r) = rows.next()? {
        let (requests, errors, tokens): (i64, i64, i64) = (r.get(4)?, r.get(5)?, r.get(6)?);
        let h = out.hours.entry(r.get(0)?).or_default();
        h.0 += requests;
        h.1 += errors;
        h.2 += tokens;
        for (i, top) in out.tops.iter_mut().enumerate() {
            let name = match r.get_ref(1 + i)?.as_str()? {
                "" => "-",
                s => s,
            };
            // Look up by &str first: most rows add to a name already seen.
            let entry = match top.get_mut(name) {
                Some(e) => e,
                None => top.entry(name.to_owned()).or_default(),
            };
            entry.0 += requests;
            entry.1 += tokens;
            entry.2 += errors;
        }
    }
    Ok(out)
}

/// The cached days of one database.
#[derive(Debug, Default)]
pub struct DayCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The database the days were read from (the configured one can change on a reload).
    database: PathBuf,
    /// The highest `usage.id` seen: rows above it are new since the last load.
    seen_id: i64,
    days: HashMap<i64, Arc<Fold>>,
}

impl DayCache {
    /// The fold of `[from, now)`: past whole days from the cache (folded and kept when
    /// missing), the rest read now. `today` is the start of the current UTC day.
    pub fn range(
        &self,
        conn: &mut Connection,
        database: &std::path::Path,
        from: i64,
        today: i64,
    ) -> rusqlite::Result<Fold> {
        // One read transaction: the new rows checked and the rollup read agree.
        let tx = conn.transaction()?;
        let first_day = (from + DAY_MS - 1).div_euclid(DAY_MS) * DAY_MS;
        let mut days: Vec<Arc<Fold>> = Vec::new();
        {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            if inner.database != database {
                *inner = Inner {
                    database: database.to_owned(),
                    ..Inner::default()
                };
            }
            if inner.days.is_empty() {
                inner.seen_id = tx
                    .prepare_cached("SELECT coalesce(max(id), 0) FROM usage")?
                    .query_row([], |r| r.get(0))?;
            } else {
                let (newest, earliest): (Option<i64>, Option<i64>) = tx
                    .prepare_cached("SELECT max(id), min(ts_ms) FROM usage WHERE id > ?1")?
                    .query_row(params![inner.seen_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
                if let Some(late) = earliest {
                    // The rollup of every day from the earliest new row's on may have moved.
                    let since = late.div_euclid(DAY_MS) * DAY_MS;
                    inner.days.retain(|d, _| *d < since);
                }
                if let Some(id) = newest {
                    inner.seen_id = id;
                }
            }
            // Days no range reaches any more are let go.
            inner.days.retain(|d, _| *d >= today - 31 * DAY_MS);
            let mut day = first_day;
            while day + DAY_MS <= today {
                let f = match inner.days.get(&day) {
                    Some(f) => f.clone(),
                    None => {
                        let f = Arc::new(fold(&tx, day, day + DAY_MS)?);
                        inner.days.insert(day, f.clone());
                        f
                    }
                };
                days.push(f);
                day += DAY_MS;
            }
        }
        // Around the cached days: the part-day before the first of them, and today.
        let mut out = if days.is_empty() {
            fold(&tx, from, i64::MAX)?
        } else {
            let mut f = fold(&tx, from, first_day)?;
            f.add(&fold(
                &tx,
                first_day + days.len() as i64 * DAY_MS,
                i64::MAX,
            )?);
            f
        };
        for d in &days {
            out.add(d);
        }
        tx.commit()?;
        Ok(out)
    }
}
