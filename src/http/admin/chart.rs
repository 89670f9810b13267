//! The overview's chart: flows and failures per minute over the last 24
//! hours, as an SVG drawn on the server (readable without the script).

use std::fmt::Write as _;

use crate::vault::store::FlowOutcome;

const MINUTE_MS: i64 = 60_000;
const MINUTES: usize = 24 * 60;
const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 220.0;
const PAD: f64 = 28.0;

/// The SVG, and a sentence saying what it shows (its text alternative).
pub(super) fn flows_per_minute(minutes: &[(i64, String, i64)], now: i64) -> (String, String) {
    let start = (now / MINUTE_MS - MINUTES as i64 + 1) * MINUTE_MS;
    let mut flows = vec![0i64; MINUTES];
    let mut failures = vec![0i64; MINUTES];
    for (minute, outcome, n) in minutes {
        let Ok(i) = usize::try_from((minute - start) / MINUTE_MS) else {
            continue;
        };
        if i >= MINUTES {
            continue;
        }
        flows[i] += n;
        if outcome == FlowOutcome::Failed.name() {
            failures[i] += n;
        }
    }
    let peak = flows.iter().copied().max().unwrap_or(0).max(1);
    let (total, failed): (i64, i64) = (flows.iter().sum(), failures.iter().sum());
    let x = |i: usize| PAD + (WIDTH - 2.0 * PAD) * i as f64 / (MINUTES - 1) as f64;
    let y = |n: i64| HEIGHT - PAD - (HEIGHT - 2.0 * PAD) * n as f64 / peak as f64;
    let line = |values: &[i64]| {
        let mut d = String::new();
        for (i, v) in values.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { "L" },
                x(i),
                y(*v)
            );
        }
        d
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"Flows and failures per minute\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    let _ = write!(
        svg,
        "<line x1=\"{PAD}\" y1=\"{b:.1}\" x2=\"{r:.1}\" y2=\"{b:.1}\" stroke=\"#c7c7cc\"/>",
        b = HEIGHT - PAD,
        r = WIDTH - PAD
    );
    let _ = write!(
        svg,
        "<text x=\"{PAD}\" y=\"16\" font-size=\"12\" fill=\"#6b6b70\">{peak} per minute</text>"
    );
    let _ = write!(
        svg,
        "<text x=\"{PAD}\" y=\"{t:.1}\" font-size=\"12\" fill=\"#6b6b70\">24 h ago</text><text x=\"{r:.1}\" y=\"{t:.1}\" font-size=\"12\" fill=\"#6b6b70\" text-anchor=\"end\">now</text>",
        t = HEIGHT - 8.0,
        r = WIDTH - PAD
    );
    let _ = write!(
        svg,
        "<path d=\"{}\" fill=\"none\" stroke=\"#2357d6\" stroke-width=\"1.5\"/>",
        line(&flows)
    );
    let _ = write!(
        svg,
        "<path d=\"{}\" fill=\"none\" stroke=\"#b3261e\" stroke-width=\"1.5\"/>",
        line(&failures)
    );
    let _ = write!(
        svg,
        "<text x=\"{r:.1}\" y=\"16\" font-size=\"12\" fill=\"#2357d6\" text-anchor=\"end\">flows</text><text x=\"{r2:.1}\" y=\"16\" font-size=\"12\" fill=\"#b3261e\" text-anchor=\"end\">failures</text>",
        r = WIDTH - PAD,
        r2 = WIDTH - PAD - 48.0
    );
    svg.push_str("</svg>");
    let caption = format!(
        "{total} flow{} in the last 24 hours, {failed} of them failed; the busiest minute had {}.",
        if total == 1 { "" } else { "s" },
        flows.iter().copied().max().unwrap_or(0)
    );
    (svg, caption)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_places_each_minute_and_says_what_it_shows() {
        let now = 1_796_140_800_000;
        let minutes = vec![
            (now / MINUTE_MS * MINUTE_MS, "completed".to_string(), 3),
            (now / MINUTE_MS * MINUTE_MS, "failed".to_string(), 1),
            (now - 25 * 3_600_000, "completed".to_string(), 100),
        ];
        let (svg, caption) = flows_per_minute(&minutes, now);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(
            caption,
            "4 flows in the last 24 hours, 1 of them failed; the busiest minute had 4."
        );
        assert!(svg.contains("4 per minute"), "{svg}");
    }
}
