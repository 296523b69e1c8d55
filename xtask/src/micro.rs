//! `cargo xtask bench --micro`: the divan micro-benchmarks of every translator and decoder,
//! summarised as one MB/s table (throughput by input bytes, median sample).
//!
//! Each crate that owns a translator or decoder has a `benches/<name>.rs` with
//! `harness = false`; this runs them one after another in release mode, keeps divan's own
//! output in `target/bench/micro-<name>.txt`, and writes the table as
//! `target/bench/micro.json`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::json;

/// (package, bench target) for every micro-benchmark in the workspace.
const BENCHES: &[(&str, &str)] = &[
    ("switchyard-hub", "hub"),
    ("switchyard-kiro", "kiro"),
    ("switchyard-cursor", "cursor"),
    ("switchyard-server", "usage_writer"),
];

#[derive(Debug, PartialEq)]
pub struct Row {
    pub name: String,
    pub median: String,
    /// MB/s of input, or for a benchmark counted in items (the usage writer's rows) items/s.
    pub mb_per_s: f64,
    pub unit: &'static str,
}

pub fn run(root: &Path, quick: bool) -> Result<(), String> {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let dir = target.join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for (package, bench) in BENCHES {
        let mut args = vec![
            "bench", "-p", package, "--bench", bench, "--", "--color", "never",
        ];
        if quick {
            args.extend(["--sample-count", "20"]);
        }
        eprintln!("\n==> cargo {}", args.join(" "));
        let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(&args)
            .current_dir(root)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        std::fs::write(dir.join(format!("micro-{bench}.txt")), &text).map_err(|e| e.to_string())?;
        if !out.status.success() {
            eprintln!("{text}");
            return Err(format!("`cargo {}` failed", args.join(" ")));
        }
        rows.extend(parse(bench, &text));
    }
    let width = rows
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(10)
        .max(10);
    println!(
        "\n{:<width$}  {:>12}  {:>10}",
        "benchmark", "median", "MB/s"
    );
    for r in &rows {
        println!(
            "{:<width$}  {:>12}  {:>10.1}{}",
            r.name,
            r.median,
            r.mb_per_s,
            if r.unit == "MB/s" {
                String::new()
            } else {
                format!(" {}", r.unit)
            }
        );
    }
    let report: Vec<_> = rows
        .iter()
        .map(|r| match r.unit {
            "MB/s" => json!({"benchmark": r.name, "median": r.median, "mb_per_s": r.mb_per_s}),
            unit => {
                json!({"benchmark": r.name, "median": r.median, "per_s": r.mb_per_s, "unit": unit})
            }
        })
        .collect();
    let path = dir.join("micro.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&report).unwrap_or_default(),
    )
    .map_err(|e| e.to_string())?;
    println!("results: {}", path.display());
    Ok(())
}

/// Reads divan's tree table: a benchmark's row holds its times, and the row right below it
/// (no name, a value ending in `/s`) its throughput; the median is the third column.
pub fn parse(bench: &str, text: &str) -> Vec<Row> {
    let mut path: Vec<String> = Vec::new();
    let mut pending: Option<(String, String)> = None;
    let mut rows = Vec::new();
    for line in text.lines() {
        // Tree drawing and indentation come first, three characters a level; the columns
        // after it are separated by the same '│' the tree uses, so strip the tree first.
        let prefix = line
            .chars()
            .take_while(|c| matches!(c, '├' | '╰' | '─' | ' ' | '│'))
            .count();
        let rest: String = line.chars().skip(prefix).collect();
        let cols: Vec<&str> = rest.split('│').map(str::trim).collect();
        let Some(first) = cols.first().copied().filter(|c| !c.is_empty()) else {
            continue;
        };
        // A throughput row: no name, just a rate.
        if first.ends_with("/s") && first.starts_with(|c: char| c.is_ascii_digit()) {
            if let (Some((name, median)), Some(rate)) = (pending.take(), cols.get(2))
                && let Some((mb, unit)) = mb_per_s(rate)
                    .map(|mb| (mb, "MB/s"))
                    .or_else(|| items_per_s(rate).map(|n| (n, "rows/s")))
            {
                rows.push(Row {
                    name,
                    median,
                    mb_per_s: mb,
                    unit,
                });
            }
            continue;
        }
        pending = None;
        // Lines without a table (the timer's precision) have one column.
        if cols.len() < 3 {
            continue;
        }
        let depth = prefix / 3;
        let (name, time) = split_time(first);
        path.truncate(depth);
        path.push(name.to_owned());
        if let (Some(_), Some(median)) = (time, cols.get(2)) {
            let mut full = vec![bench.to_owned()];
            full.extend(path.iter().skip(1).cloned());
            pending = Some((full.join(" "), (*median).to_owned()));
        }
    }
    rows
}

/// "claude->hub fixture   3.102 µs" -> ("claude->hub fixture", Some("3.102 µs")).
fn split_time(cell: &str) -> (&str, Option<&str>) {
    let mut parts = cell.rsplitn(3, char::is_whitespace);
    let (unit, number, name) = (parts.next(), parts.next(), parts.next());
    match (unit, number, name) {
        (Some(u), Some(n), Some(name))
            if matches!(u, "ns" | "µs" | "us" | "ms" | "s" | "ps") && n.parse::<f64>().is_ok() =>
        {
            let value_len = n.len() + 1 + u.len();
            (
                name.trim_end(),
                cell.get(cell.len() - value_len..).map(str::trim),
            )
        }
        _ => (cell, None),
    }
}

/// "1.234 GB/s" -> 1234.0
fn mb_per_s(rate: &str) -> Option<f64> {
    let (number, unit) = rate.split_once(' ')?;
    let n: f64 = number.parse().ok()?;
    let scale = match unit {
        "B/s" => 1e-6,
        "KB/s" => 1e-3,
        "MB/s" => 1.0,
        "GB/s" => 1e3,
        "TB/s" => 1e6,
        "KiB/s" => 1024.0 / 1e6,
        "MiB/s" => 1024.0 * 1024.0 / 1e6,
        "GiB/s" => 1024.0 * 1024.0 * 1024.0 / 1e6,
        _ => return None,
    };
    Some(n * scale)
}

/// "192.3 Kitem/s" -> 192300.0
fn items_per_s(rate: &str) -> Option<f64> {
    let (number, unit) = rate.split_once(' ')?;
    let n: f64 = number.parse().ok()?;
    let scale = match unit {
        "item/s" => 1.0,
        "Kitem/s" => 1e3,
        "Mitem/s" => 1e6,
        "Gitem/s" => 1e9,
        _ => return None,
    };
    Some(n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_divan_tables() {
        let text = "\
Timer precision: 20 ns
hub                         fastest       │ slowest       │ median        │ mean          │ samples │ iters
├─ request                                │               │               │               │         │
│  ├─ claude->hub fixture   3.1 µs        │ 9 µs          │ 3.3 µs        │ 3.4 µs        │ 100     │ 100
│  │                        950 MB/s      │ 300 MB/s      │ 900.5 MB/s    │ 890 MB/s      │         │
│  ╰─ hub->gemini large     1.1 ms        │ 2 ms          │ 1.2 ms        │ 1.3 ms        │ 100     │ 100
│                           110 MB/s      │ 60 MB/s       │ 100 MB/s      │ 98 MB/s       │         │
╰─ sse_parser               10 µs         │ 20 µs         │ 11 µs         │ 12 µs         │ 100     │ 800
                            1.5 GB/s      │ 1 GB/s        │ 1.4 GB/s      │ 1.3 GB/s      │         │
";
        let rows = parse("hub", text);
        assert_eq!(
            rows,
            vec![
                Row {
                    name: "hub request claude->hub fixture".into(),
                    median: "3.3 µs".into(),
                    mb_per_s: 900.5,
                    unit: "MB/s",
                },
                Row {
                    name: "hub request hub->gemini large".into(),
                    median: "1.2 ms".into(),
                    mb_per_s: 100.0,
                    unit: "MB/s",
                },
                Row {
                    name: "hub sse_parser".into(),
                    median: "11 µs".into(),
                    mb_per_s: 1400.0,
                    unit: "MB/s",
                },
            ]
        );
    }

    #[test]
    fn reads_item_rates_as_rows_per_second() {
        let text = "\
usage_writer       fastest       │ slowest       │ median        │ mean          │ samples │ iters
╰─ sustained_rows  832.1 ms      │ 1.235 s       │ 1.039 s       │ 1.061 s       │ 5       │ 5
                   240.3 Kitem/s │ 161.8 Kitem/s │ 192.3 Kitem/s │ 188.3 Kitem/s │         │
";
        assert_eq!(
            parse("usage_writer", text),
            vec![Row {
                name: "usage_writer sustained_rows".into(),
                median: "1.039 s".into(),
                mb_per_s: 192_300.0,
                unit: "rows/s",
            }]
        );
    }
}
