//! Charts drawn on the server as SVG: a line chart of a series (with the previous period
//! dashed behind it) and a distribution strip for benchmarks. They need no script, scale
//! with the page, and name themselves for screen readers; every chart on a page also has
//! its numbers in a table and a sentence that says what it shows.

use std::fmt::Write;

use crate::mail::escape_html as esc;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 48.0;

/// One line of a chart.
pub(super) struct Series<'a> {
    /// The CSS class that colours it: `current`, `previous`, `s2`, …
    pub class: &'static str,
    pub values: &'a [Option<f64>],
}

pub(super) struct LineChart<'a> {
    /// The id of the element that names the chart (its caption).
    pub labelled_by: &'a str,
    /// What the x axis shows ("Day (UTC)").
    pub x_title: &'a str,
    /// What the y axis shows ("Views").
    pub y_title: &'a str,
    /// A label per point of the first series (dates).
    pub labels: &'a [String],
    pub series: &'a [Series<'a>],
    /// Values are rates, shown as percentages.
    pub percent: bool,
}

/// A "nice" step for about `ticks` intervals up to `max`: 1, 2 or 5 times a power of ten.
fn nice_step(max: f64, ticks: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let raw = max / ticks;
    let power = 10f64.powf(raw.log10().floor());
    let unit = raw / power;
    let nice = if unit <= 1.0 {
        1.0
    } else if unit <= 2.0 {
        2.0
    } else if unit <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * power
}

fn tick_label(v: f64, percent: bool) -> String {
    if percent {
        let p = v * 100.0;
        if (p - p.round()).abs() < 1e-9 {
            format!("{p:.0} %")
        } else {
            format!("{p:.1} %")
        }
    } else if v >= 1_000_000.0 {
        format!("{:.1}M", v / 1_000_000.0)
    } else if v >= 10_000.0 {
        format!("{:.0}k", v / 1_000.0)
    } else if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Where values land on the plot: the number of points along x, the y axis's step and
/// top.
struct Scale {
    points: usize,
    step: f64,
    top: f64,
}

const PLOT_W: f64 = WIDTH - LEFT - RIGHT;
const PLOT_H: f64 = HEIGHT - TOP - BOTTOM;

impl Scale {
    fn of(c: &LineChart<'_>) -> Scale {
        let points = c.series.iter().map(|s| s.values.len()).max().unwrap_or(0);
        let max = c
            .series
            .iter()
            .flat_map(|s| s.values.iter().flatten())
            .fold(0.0f64, |m, v| m.max(*v));
        // Counts step by whole numbers; rates by whatever fits.
        let mut step = nice_step(max, 4.0);
        if !c.percent {
            step = step.max(1.0);
        }
        let top = if max <= 0.0 {
            step * 4.0
        } else {
            (max / step).ceil() * step
        };
        Scale { points, step, top }
    }

    fn x(&self, i: usize) -> f64 {
        if self.points <= 1 {
            LEFT + PLOT_W / 2.0
        } else {
            LEFT + PLOT_W * i as f64 / (self.points - 1) as f64
        }
    }

    fn y(&self, v: f64) -> f64 {
        TOP + PLOT_H * (1.0 - v / self.top)
    }

    /// The y axis's ticks, 0 to the top.
    fn ticks(&self) -> Vec<f64> {
        let mut ticks = Vec::new();
        let mut v = 0.0;
        while v <= self.top + self.step / 2.0 {
            ticks.push(v);
            v += self.step;
        }
        ticks
    }

    /// About six of the points get a label along the x axis, first and last included.
    fn labelled(&self) -> Vec<usize> {
        let points = self.points;
        if points == 0 {
            return Vec::new();
        }
        let every = points.div_ceil(6).max(1);
        let mut shown: Vec<usize> = (0..points).step_by(every).collect();
        if shown.last() != Some(&(points - 1)) {
            if shown.len() > 1 && points - 1 - shown[shown.len() - 1] < every / 2 {
                shown.pop();
            }
            shown.push(points - 1);
        }
        shown
    }
}

/// Horizontal grid lines, then (opening the axis group) the y axis's labels.
fn y_axis(svg: &mut String, s: &Scale, percent: bool) {
    let ticks = s.ticks();
    svg.push_str(r#"<g class="grid">"#);
    for &v in &ticks {
        let _ = write!(
            svg,
            r#"<line x1="{LEFT}" x2="{}" y1="{:.1}" y2="{:.1}"/>"#,
            WIDTH - RIGHT,
            s.y(v),
            s.y(v)
        );
    }
    svg.push_str("</g><g class=\"axis\">");
    for v in ticks {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{:.1}" text-anchor="end" dominant-baseline="middle">{}</text>"#,
            LEFT - 8.0,
            s.y(v),
            esc(&tick_label(v, percent))
        );
    }
}

fn x_axis(svg: &mut String, s: &Scale, labels: &[String]) {
    let points = s.points;
    for i in s.labelled() {
        let anchor = if points == 1 {
            "middle"
        } else if i == 0 {
            "start"
        } else if i == points - 1 {
            "end"
        } else {
            "middle"
        };
        let label = labels.get(i).map(String::as_str).unwrap_or("");
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="{anchor}">{}</text>"#,
            s.x(i),
            HEIGHT - BOTTOM + 18.0,
            esc(label)
        );
    }
}

fn axis_titles(svg: &mut String, c: &LineChart<'_>) {
    let _ = write!(
        svg,
        r#"<text class="title" x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
        LEFT + PLOT_W / 2.0,
        HEIGHT - 6.0,
        esc(c.x_title)
    );
    let _ = write!(
        svg,
        r#"<text class="title" transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        TOP + PLOT_H / 2.0,
        esc(c.y_title)
    );
}

/// One series as a path; a missing value lifts the pen.
fn series_path(svg: &mut String, s: &Scale, series: &Series<'_>) {
    let mut d = String::new();
    let mut pen_down = false;
    for (i, v) in series.values.iter().enumerate() {
        match v {
            Some(v) => {
                let _ = write!(
                    d,
                    "{}{:.1} {:.1}",
                    if pen_down { " L" } else { " M" },
                    s.x(i),
                    s.y(*v)
                );
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    if !d.is_empty() {
        let _ = write!(
            svg,
            r#"<path class="line {}" d="{}"/>"#,
            series.class,
            d.trim_start()
        );
    }
}

/// With few points, a dot on each, so one day's numbers are visible too.
fn series_dots(svg: &mut String, s: &Scale, series: &Series<'_>) {
    if series.values.len() > 45 {
        return;
    }
    for (i, v) in series.values.iter().enumerate() {
        if let Some(v) = v {
            let _ = write!(
                svg,
                r#"<circle class="dot {}" cx="{:.1}" cy="{:.1}" r="3"/>"#,
                series.class,
                s.x(i),
                s.y(*v)
            );
        }
    }
}

/// Draws a line chart. Missing values (a rate without views) break the line.
pub(super) fn line(c: &LineChart<'_>) -> String {
    let scale = Scale::of(c);
    let mut svg = String::with_capacity(4096 + scale.points * 40);
    let _ = write!(
        svg,
        r#"<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{}" focusable="false">"#,
        esc(c.labelled_by)
    );
    y_axis(&mut svg, &scale, c.percent);
    x_axis(&mut svg, &scale, c.labels);
    axis_titles(&mut svg, c);
    svg.push_str("</g>");
    // The lines, the previous period first so the current one is drawn over it.
    for series in c.series.iter().rev() {
        series_path(&mut svg, &scale, series);
        series_dots(&mut svg, &scale, series);
    }
    svg.push_str("</svg>");
    svg
}

/// Five points of a distribution, lowest first: p10, p25, median, p75, p90.
pub(super) struct Distribution {
    pub p10: f64,
    pub p25: f64,
    pub median: f64,
    pub p75: f64,
    pub p90: f64,
}

/// A distribution of rates as a strip: the middle half as a box, the middle 80 % as a
/// line through it, the median as a tick, and "you" as a marked line.
pub(super) fn distribution(labelled_by: &str, d: &Distribution, you: Option<f64>) -> String {
    let w = 720.0;
    let h = 120.0;
    let (left, right) = (24.0, 24.0);
    let max = [d.p90, you.unwrap_or(0.0)]
        .iter()
        .fold(0.0f64, |m, v| m.max(*v));
    let step = nice_step(max, 5.0);
    let top = if max <= 0.0 {
        0.05
    } else {
        ((max * 1.05) / step).ceil() * step
    };
    let x = |v: f64| left + (w - left - right) * (v / top).clamp(0.0, 1.0);
    let mid = 52.0;
    let mut svg = String::with_capacity(2048);
    let _ = write!(
        svg,
        r#"<svg viewBox="0 0 {w} {h}" role="img" aria-labelledby="{}" focusable="false">"#,
        esc(labelled_by)
    );
    svg.push_str(r#"<g class="grid">"#);
    let mut v = 0.0;
    let mut ticks = Vec::new();
    while v <= top + step / 2.0 {
        let _ = write!(
            svg,
            r#"<line x1="{:.1}" x2="{:.1}" y1="20" y2="84"/>"#,
            x(v),
            x(v)
        );
        ticks.push(v);
        v += step;
    }
    svg.push_str(r#"</g><g class="axis">"#);
    for v in ticks {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="102" text-anchor="middle">{}</text>"#,
            x(v),
            esc(&tick_label(v, true))
        );
    }
    svg.push_str("</g>");
    let _ = write!(
        svg,
        r#"<line class="whisker" x1="{:.1}" x2="{:.1}" y1="{mid}" y2="{mid}"/>"#,
        x(d.p10),
        x(d.p90)
    );
    let _ = write!(
        svg,
        r#"<rect class="bar" x="{:.1}" y="{}" width="{:.1}" height="24"/>"#,
        x(d.p25),
        mid - 12.0,
        (x(d.p75) - x(d.p25)).max(1.0)
    );
    let _ = write!(
        svg,
        r#"<line class="median" x1="{:.1}" x2="{:.1}" y1="{}" y2="{}"/>"#,
        x(d.median),
        x(d.median),
        mid - 12.0,
        mid + 12.0
    );
    if let Some(you) = you {
        let _ = write!(
            svg,
            r#"<line class="marker" x1="{:.1}" x2="{:.1}" y1="14" y2="84"/><text class="you" x="{:.1}" y="11" text-anchor="middle">you</text>"#,
            x(you),
            x(you),
            x(you)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// One row of an interval chart: a name, the estimate and its interval.
pub(super) struct Estimate<'a> {
    pub name: &'a str,
    pub low: f64,
    pub value: f64,
    pub high: f64,
}

/// Differences with their intervals on one scale around zero (a forest plot): a line from
/// low to high with a dot at the estimate, one row each, zero marked. Values are rates.
pub(super) fn intervals(labelled_by: &str, rows: &[Estimate]) -> String {
    let (w, row_h, label_w, right) = (720.0, 36.0, 120.0, 24.0);
    let h = 40.0 + row_h * rows.len() as f64;
    let reach = rows
        .iter()
        .flat_map(|r| [r.low.abs(), r.high.abs(), r.value.abs()])
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let step = nice_step(reach, 2.0);
    let edge = if reach <= 0.0 {
        0.01
    } else {
        (reach / step).ceil() * step
    };
    let x = |v: f64| label_w + (w - label_w - right) * ((v + edge) / (2.0 * edge)).clamp(0.0, 1.0);
    let mut svg = String::with_capacity(1024);
    let _ = write!(
        svg,
        r#"<svg viewBox="0 0 {w} {h}" role="img" aria-labelledby="{}" focusable="false"><g class="grid">"#,
        esc(labelled_by)
    );
    let bottom = h - 24.0;
    let mut ticks = Vec::new();
    let mut v = -edge;
    while v <= edge + step / 2.0 {
        let _ = write!(
            svg,
            r#"<line x1="{0:.1}" x2="{0:.1}" y1="8" y2="{bottom}"/>"#,
            x(v)
        );
        ticks.push(v);
        v += step;
    }
    svg.push_str(r#"</g><g class="axis">"#);
    for v in ticks {
        let sign = if v > 1e-12 { "+" } else { "" };
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{sign}{}</text>"#,
            x(v),
            h - 6.0,
            esc(&tick_label(v, true).replace(" %", " pt"))
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let y = 24.0 + row_h * i as f64;
        let _ = write!(
            svg,
            r#"<text x="0" y="{:.1}">{}</text>"#,
            y + 4.0,
            esc(r.name)
        );
    }
    let _ = write!(
        svg,
        r#"</g><line class="marker" x1="{0:.1}" x2="{0:.1}" y1="8" y2="{bottom}"/>"#,
        x(0.0)
    );
    for (i, r) in rows.iter().enumerate() {
        let y = 24.0 + row_h * i as f64;
        let _ = write!(
            svg,
            r#"<line class="whisker" x1="{:.1}" x2="{:.1}" y1="{y}" y2="{y}"/><circle class="dot" cx="{:.1}" cy="{y}" r="5"/>"#,
            x(r.low),
            x(r.high),
            x(r.value)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_nice() {
        assert_eq!(nice_step(100.0, 4.0), 50.0);
        assert_eq!(nice_step(7.0, 4.0), 2.0);
        assert!((nice_step(0.034, 4.0) - 0.01).abs() < 1e-12);
        assert_eq!(nice_step(0.0, 4.0), 1.0);
    }

    #[test]
    fn a_line_chart_has_its_axes_and_breaks_at_gaps() {
        let labels: Vec<String> = (1..=3).map(|d| format!("Dec {d}")).collect();
        let values = [Some(3.0), None, Some(10.0)];
        let previous = [Some(1.0), Some(2.0), Some(4.0)];
        let svg = line(&LineChart {
            labelled_by: "c1",
            x_title: "Day (UTC)",
            y_title: "Views <all>",
            labels: &labels,
            series: &[
                Series {
                    class: "current",
                    values: &values,
                },
                Series {
                    class: "previous",
                    values: &previous,
                },
            ],
            percent: false,
        });
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains(r#"aria-labelledby="c1""#));
        assert!(svg.contains("Day (UTC)") && svg.contains("Views &lt;all&gt;"));
        assert!(svg.contains(">Dec 1<") && svg.contains(">Dec 3<"));
        // The gap starts a new segment: two moves in the current line.
        let current = svg
            .split(r#"class="line current" d=""#)
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(current.matches('M').count(), 2, "{current}");
        assert!(svg.contains(">10<") || svg.contains(">12<"), "{svg}");
    }

    #[test]
    fn an_empty_chart_still_draws_its_axes() {
        let svg = line(&LineChart {
            labelled_by: "c",
            x_title: "Hour (UTC)",
            y_title: "Clicks",
            labels: &[],
            series: &[Series {
                class: "current",
                values: &[],
            }],
            percent: false,
        });
        assert!(svg.contains("Hour (UTC)") && !svg.contains("<path"));
    }

    #[test]
    fn the_distribution_marks_you() {
        let d = Distribution {
            p10: 0.01,
            p25: 0.02,
            median: 0.03,
            p75: 0.04,
            p90: 0.06,
        };
        let svg = distribution("b1", &d, Some(0.035));
        assert!(svg.contains(">you<") && svg.contains("class=\"median\""));
        assert!(svg.contains(">5 %<") || svg.contains(">6 %<"), "{svg}");
    }

    #[test]
    fn intervals_share_one_scale_around_zero() {
        let rows = [
            Estimate {
                name: "B <new>",
                low: 0.002,
                value: 0.008,
                high: 0.014,
            },
            Estimate {
                name: "C",
                low: -0.006,
                value: 0.001,
                high: 0.008,
            },
        ];
        let svg = intervals("i1", &rows);
        assert!(svg.contains(r#"aria-labelledby="i1""#) && svg.contains("B &lt;new&gt;"));
        assert_eq!(svg.matches(r#"class="dot""#).count(), 2);
        // Symmetric around zero, zero in the middle of the plot.
        assert!(svg.contains(">+1 pt<") || svg.contains(">+2 pt<"), "{svg}");
        assert!(svg.contains(r#"class="marker" x1="408.0""#), "{svg}");
    }
}
