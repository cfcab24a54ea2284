//! The study chart of the dashboard: one bar per day of study minutes, drawn on the server as
//! an SVG image (no script, no inline styles: the bars take their colour from app.css), with a
//! text summary for screen readers.

use chrono::NaiveDate;

use crate::html::escape;

/// One day of the chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day {
    pub date: NaiveDate,
    pub minutes: i64,
}

/// The drawing's size in SVG units (it scales to its box).
pub const WIDTH: f64 = 600.0;
pub const HEIGHT: f64 = 160.0;
/// Room above the bars for the scale, and below them for the dates.
const TOP: f64 = 18.0;
const BOTTOM: f64 = 22.0;
/// The tallest bar.
pub const PLOT: f64 = HEIGHT - TOP - BOTTOM;
/// The smallest visible bar, so a single minute still shows.
const MIN_BAR: f64 = 2.0;

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The chart in words: what a screen reader says for the picture.
pub fn summary(title: &str, days: &[Day]) -> String {
    let total: i64 = days.iter().map(|d| d.minutes.max(0)).sum();
    let studied = days.iter().filter(|d| d.minutes > 0).count() as i64;
    let best = days
        .iter()
        .filter(|d| d.minutes > 0)
        .max_by_key(|d| (d.minutes, std::cmp::Reverse(d.date)));
    match best {
        None => format!("{title}: no study time recorded yet."),
        Some(best) => format!(
            "{title}: {} in total, on {} of {}; most on {} ({}).",
            plural(total, "minute", "minutes"),
            plural(studied, "day", "days"),
            plural(days.len() as i64, "day", "days"),
            best.date.format("%-d %B"),
            plural(best.minutes, "minute", "minutes"),
        ),
    }
}

/// The SVG of `days` (oldest first): bars scaled so the busiest day fills the height, nothing
/// drawn for a day without study, and `title` (escaped) leading the summary.
pub fn study_chart(title: &str, days: &[Day]) -> String {
    let summary = escape(&summary(title, days));
    let max = days.iter().map(|d| d.minutes).max().unwrap_or(0).max(0);
    let slot = WIDTH / days.len().max(1) as f64;
    let gap = (slot * 0.2).min(4.0);
    let baseline = TOP + PLOT;
    let mut svg = format!(
        "<svg class=\"study-chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" \
         aria-label=\"{summary}\" focusable=\"false\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title>{summary}</title>"
    );
    svg.push_str(&format!(
        "<line class=\"chart-axis\" x1=\"0\" y1=\"{baseline}\" x2=\"{WIDTH}\" y2=\"{baseline}\"/>"
    ));
    if max > 0 {
        svg.push_str(&format!(
            "<text class=\"chart-label\" x=\"0\" y=\"12\">{}</text>",
            escape(&format!("{max} min"))
        ));
    }
    for (i, day) in days.iter().enumerate() {
        if day.minutes <= 0 || max == 0 {
            continue;
        }
        let height = (day.minutes as f64 * PLOT / max as f64).max(MIN_BAR);
        let x = i as f64 * slot + gap / 2.0;
        let label = escape(&format!(
            "{}: {}",
            day.date.format("%-d %B"),
            plural(day.minutes, "minute", "minutes")
        ));
        svg.push_str(&format!(
            "<rect class=\"chart-bar\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{height:.1}\">\
             <title>{label}</title></rect>",
            baseline - height,
            slot - gap,
        ));
    }
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        let y = HEIGHT - 4.0;
        svg.push_str(&format!(
            "<text class=\"chart-label\" x=\"0\" y=\"{y}\">{}</text>\
             <text class=\"chart-label\" x=\"{WIDTH}\" y=\"{y}\" text-anchor=\"end\">{}</text>",
            escape(&first.date.format("%-d %b").to_string()),
            escape(&last.date.format("%-d %b").to_string()),
        ));
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(minutes: &[i64]) -> Vec<Day> {
        let start = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        minutes
            .iter()
            .enumerate()
            .map(|(i, &m)| Day {
                date: start + chrono::Duration::days(i as i64),
                minutes: m,
            })
            .collect()
    }

    /// The `height` attributes of the bars, in order.
    fn bar_heights(svg: &str) -> Vec<f64> {
        svg.split("<rect class=\"chart-bar\"")
            .skip(1)
            .map(|bar| {
                let h = bar.split("height=\"").nth(1).unwrap();
                h[..h.find('"').unwrap()].parse().unwrap()
            })
            .collect()
    }

    #[test]
    fn bars_scale_to_the_busiest_day() {
        let svg = study_chart("Study", &days(&[60, 30, 15]));
        let heights = bar_heights(&svg);
        assert_eq!(heights.len(), 3);
        assert!((heights[0] - PLOT).abs() < 0.06, "{heights:?}");
        assert!((heights[1] - PLOT / 2.0).abs() < 0.06, "{heights:?}");
        assert!((heights[2] - PLOT / 4.0).abs() < 0.06, "{heights:?}");
        assert!(svg.contains(">60 min</text>"));
        assert!(svg.contains("role=\"img\""));
        assert!(!svg.contains("style"));
        assert!(
            svg.contains("105 minutes in total, on 3 days of 3 days; most on 1 March (60 minutes)")
        );
    }

    #[test]
    fn empty_days_draw_no_bar_and_a_tiny_day_still_shows() {
        let svg = study_chart("Study", &days(&[0, 600, 0, 1, 0]));
        let heights = bar_heights(&svg);
        assert_eq!(heights.len(), 2, "only the days with study have bars");
        assert!((heights[0] - PLOT).abs() < 0.06);
        assert!(heights[1] >= MIN_BAR);
        assert!(svg.contains("2 March: 600 minutes"));
        assert!(svg.contains("4 March: 1 minute<"));

        let nothing = study_chart("Study", &days(&[0; 30]));
        assert!(bar_heights(&nothing).is_empty());
        assert!(nothing.contains("Study: no study time recorded yet."));
        assert!(!nothing.contains("NaN") && !nothing.contains("inf"));
        assert!(study_chart("Study", &[]).ends_with("</svg>"));
    }

    #[test]
    fn text_is_escaped() {
        let svg = study_chart("<script>\"x\" & 'y'</script>", &days(&[5]));
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"));
    }
}
