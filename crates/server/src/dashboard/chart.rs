//! Bar charts drawn on the server as inline SVG: a page needs no chart library and no script
//! to show its history, and the numbers are in the markup (titles) for screen readers.

use maud::{Markup, PreEscaped, html};

/// One bar: its label (a time), its height, and the part of it drawn as errors.
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub errors: f64,
}

/// A bar chart `title`d for assistive technology, scaled to its highest bar.
pub fn bars(title: &str, unit: &str, bars: &[Bar]) -> Markup {
    const W: f64 = 800.0;
    const H: f64 = 140.0;
    const AXIS: f64 = 16.0;
    let max = bars
        .iter()
        .map(|b| b.value)
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let step = W / bars.len().max(1) as f64;
    let width = (step * 0.8).max(1.0);
    let mut svg = String::new();
    for (i, b) in bars.iter().enumerate() {
        let x = i as f64 * step;
        let h = (b.value / max) * (H - AXIS);
        let e = (b.errors.min(b.value) / max) * (H - AXIS);
        svg.push_str(&format!(
            r#"<rect class="bar" x="{x:.1}" y="{:.1}" width="{width:.1}" height="{h:.1}"><title>{}: {} {unit}</title></rect>"#,
            H - AXIS - h,
            escape(&b.label),
            b.value
        ));
        if e > 0.0 {
            svg.push_str(&format!(
                r#"<rect class="bar err" x="{x:.1}" y="{:.1}" width="{width:.1}" height="{e:.1}"><title>{}: {} errors</title></rect>"#,
                H - AXIS - e,
                escape(&b.label),
                b.errors
            ));
        }
    }
    if let (Some(first), Some(last)) = (bars.first(), bars.last()) {
        svg.push_str(&format!(
            r#"<text x="0" y="{H}">{}</text><text x="{W}" y="{H}" text-anchor="end">{}</text><text x="0" y="10">max {max}</text>"#,
            escape(&first.label),
            escape(&last.label)
        ));
    }
    html! {
        figure.chart {
            figcaption { (title) }
            svg viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(title) preserveAspectRatio="none" {
                (PreEscaped(svg))
            }
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
