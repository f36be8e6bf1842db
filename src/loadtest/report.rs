//! `loadtest --report FILE.html`: one self-contained page to look at after a run:
//! the latency distribution (CDF, p50/p95/p99 marked), connections established and
//! failed over time by failure kind, deliveries per update, the run's parameters and
//! the diagnosis. Plots are inline SVG drawn with plotters; the page loads nothing
//! (a Content-Security-Policy of `default-src 'none'` says so to the browser).

use std::fmt::Write as _;
use std::path::Path;

use plotters::coord;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::LoadtestError;
use super::Options;
use super::stats::Report;

/// The page's second line: a file starting with it may be overwritten by the next run.
pub const MARKER: &str = "<!-- mercure-setup loadtest report -->";

/// Class name of established connections in `Report::connection_events`.
pub const ESTABLISHED: &str = "established";
/// Class name of established connections that ended before the run did.
pub const DROPPED: &str = "dropped";

const WIDTH: u32 = 860;
const HEIGHT: u32 = 340;

/// Refuses a report path holding anything but an earlier report, so a mistyped
/// `--report answers.yaml` loses nothing. Checked before the run starts.
pub fn check_path(path: &Path) -> Result<(), LoadtestError> {
    match std::fs::read(path) {
        Ok(bytes) if !starts_with_marker(&bytes) => Err(LoadtestError::NotAReport { path: path.to_path_buf() }),
        _ => Ok(()),
    }
}

fn starts_with_marker(bytes: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]);
    head.lines().take(2).any(|l| l.trim() == MARKER)
}

/// Writes the page (0644, through a temporary file, so a reader never sees half of it).
pub fn write(path: &Path, report: &Report, args: &Options) -> Result<(), LoadtestError> {
    check_path(path)?;
    let html = html(report, args)?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let failed = |source: std::io::Error| LoadtestError::WriteReport { path: path.to_path_buf(), source };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(failed)?;
    std::io::Write::write_all(&mut tmp, html.as_bytes()).map_err(failed)?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(failed)?;
    }
    tmp.persist(path).map_err(|e| failed(e.error))?;
    Ok(())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

#[allow(clippy::cast_precision_loss)]
fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn ms_text(us: Option<u64>) -> String {
    us.map_or_else(|| "-".to_string(), |v| format!("{:.1} ms", ms(v)))
}

/// The whole page.
pub fn html(r: &Report, args: &Options) -> Result<String, LoadtestError> {
    let mut s = String::new();
    let title = format!("mercure-setup loadtest: {}", r.public_url);
    let _ = writeln!(s, "<!DOCTYPE html>\n{MARKER}");
    let _ = writeln!(
        s,
        "<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>{}</title>\n<style>{STYLE}</style></head><body>",
        esc(&title)
    );
    let _ = writeln!(s, "<h1>Load test of <code>{}</code></h1>", esc(&r.public_url));
    let verdict = if r.clean() {
        "<p class=\"verdict pass\" id=\"verdict\">PASS: every subscription held and every update arrived everywhere.</p>"
            .to_string()
    } else {
        format!(
            "<p class=\"verdict fail\" id=\"verdict\">FAIL: {} connection(s) failed, {} dropped, {} of {} update(s) published, {} deliveries lost.</p>",
            r.failed,
            r.dropped,
            r.published,
            r.updates,
            r.lost()
        )
    };
    s.push_str(&verdict);
    s.push('\n');

    s.push_str("<section id=\"parameters\"><h2>Run parameters</h2><table>\n");
    let publish = args.publish_url.as_ref().map_or_else(|| "the public URL".into(), ToString::to_string);
    for (k, v) in [
        ("public URL", r.public_url.clone()),
        ("publish URL", publish),
        ("subscribers", r.subscribers.to_string()),
        ("updates", r.updates.to_string()),
        ("rate", format!("{} updates/s", r.rate)),
        ("subscriber protocol", if args.http2 { "HTTP/2, one connection each" } else { "HTTP/1.1" }.to_string()),
        ("duration limit", args.duration.text.clone()),
        ("concurrent connection attempts", args.concurrency.to_string()),
        ("connect timeout", args.connect_timeout.text.clone()),
        ("mercure-setup", env!("CARGO_PKG_VERSION").to_string()),
    ] {
        let _ = writeln!(s, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
    }
    s.push_str("</table></section>\n");

    s.push_str("<section id=\"summary\"><h2>Results</h2><table>\n");
    let pct = if r.expected_deliveries > 0 {
        #[allow(clippy::cast_precision_loss)]
        let p = r.delivered as f64 * 100.0 / r.expected_deliveries as f64;
        format!(" ({p:.2} %)")
    } else {
        String::new()
    };
    let kinds: Vec<String> = r.failed_by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let rows: Vec<(&str, &str, String)> = vec![
        ("established", "connections established", r.established.to_string()),
        (
            "failed",
            "connections failed",
            format!(
                "{}{}",
                r.failed,
                if kinds.is_empty() { String::new() } else { format!(" ({})", kinds.join(", ")) }
            ),
        ),
        ("dropped", "dropped mid-run", r.dropped.to_string()),
        ("ramp", "ramp-up", format!("{:.1} s ({:.0} connections/s)", r.ramp_seconds, r.connections_per_second)),
        ("published", "updates published", format!("{} of {}", r.published, r.updates)),
        ("delivered", "deliveries", format!("{} of {}{pct}", r.delivered, r.expected_deliveries)),
        ("lost", "deliveries lost", r.lost().to_string()),
        ("complete", "subscribers with every update", format!("{} of {}", r.complete_subscribers, r.established)),
        ("p50", "latency p50", ms_text(r.latency.p50_us)),
        ("p95", "latency p95", ms_text(r.latency.p95_us)),
        ("p99", "latency p99", ms_text(r.latency.p99_us)),
        ("max", "latency max", ms_text(r.latency.max_us)),
        ("samples", "latency samples", r.latency.samples.to_string()),
    ];
    for (id, k, v) in rows {
        let _ = writeln!(s, "<tr><th>{}</th><td id=\"r-{id}\">{}</td></tr>", esc(k), esc(&v));
    }
    s.push_str("</table></section>\n");

    s.push_str("<section id=\"diagnosis\"><h2>Diagnosis</h2>\n");
    s.push_str(&diagnosis_html(r));
    s.push_str("</section>\n");

    let _ = writeln!(s, "<section id=\"latency\"><h2>Delivery latency</h2>{}</section>", latency_svg(r)?);
    let _ = writeln!(s, "<section id=\"connections\"><h2>Connections over time</h2>{}</section>", connections_svg(r)?);
    let _ = writeln!(s, "<section id=\"deliveries\"><h2>Deliveries per update</h2>{}</section>", deliveries_svg(r)?);
    let _ =
        writeln!(s, "<section id=\"table\"><h2>The report as printed</h2><pre>{}</pre></section>", esc(&r.to_table()));
    s.push_str("</body></html>\n");
    Ok(s)
}

fn diagnosis_html(r: &Report) -> String {
    let mut s = String::new();
    let mut any = false;
    if let Some(a) = &r.aborted {
        any = true;
        let _ = writeln!(s, "<p class=\"fail\">Stopped early: {}</p>", esc(a));
    }
    for (what, d) in [("Connections", &r.diagnosis), ("Publishing", &r.publish_diagnosis)] {
        if let Some(d) = d {
            any = true;
            let _ = writeln!(
                s,
                "<div class=\"finding\"><p><b>{what}: likely cause</b> (<code>mercure-setup explain troubleshooting</code>, entry {}): {}</p><p><b>Fix:</b> {}</p></div>",
                d.item.number(),
                esc(&d.cause),
                esc(&d.fix)
            );
        }
    }
    for (k, e) in &r.failure_examples {
        any = true;
        let _ = writeln!(s, "<p>Failure example, {}: <code>{}</code></p>", esc(k), esc(e));
    }
    for b in &r.client.bottlenecks {
        any = true;
        let _ = writeln!(s, "<p class=\"fail\">Bottleneck in the client: {}</p>", esc(b));
    }
    if !any {
        s.push_str("<p>Nothing to diagnose: no failures, and the client itself was not the bottleneck.</p>\n");
    }
    let c = &r.client;
    let _ = writeln!(
        s,
        "<p class=\"client\">Client: {} MiB peak RSS, {:.0} % of {} cores, event-loop lag up to {} ms, file limit {} (hard {}).</p>",
        c.rss_peak_kib / 1024,
        c.cpu_percent,
        c.cores,
        c.scheduling_lag_max_ms,
        c.nofile_soft,
        c.nofile_hard
    );
    s
}

/// The cumulative share of samples at or below each bucket's upper bound: (ms, %).
pub fn cdf(buckets: &[(u64, u64)]) -> Vec<(f64, f64)> {
    let total: u64 = buckets.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return Vec::new();
    }
    let mut seen = 0;
    buckets
        .iter()
        .map(|&(high, n)| {
            seen += n;
            #[allow(clippy::cast_precision_loss)]
            let share = seen as f64 * 100.0 / total as f64;
            (ms(high).max(0.001), share)
        })
        .collect()
}

/// Per class, the running count of connection events over time: (class, [(s, count)]),
/// starting at 0 and held until `end_s`. Classes keep their first-seen order, with
/// `established` first.
pub fn cumulative(events: &[(u64, &'static str)], end_s: f64) -> Vec<(&'static str, Vec<(f64, u32)>)> {
    let mut sorted = events.to_vec();
    sorted.sort_by_key(|(t, _)| *t);
    let mut classes: Vec<&'static str> = Vec::new();
    if sorted.iter().any(|(_, c)| *c == ESTABLISHED) {
        classes.push(ESTABLISHED);
    }
    for (_, c) in &sorted {
        if !classes.contains(c) {
            classes.push(c);
        }
    }
    classes
        .into_iter()
        .map(|class| {
            let mut points = vec![(0.0, 0)];
            let mut n = 0;
            for (t, c) in &sorted {
                if *c == class {
                    #[allow(clippy::cast_precision_loss)]
                    let s = *t as f64 / 1000.0;
                    points.push((s, n));
                    n += 1;
                    points.push((s, n));
                }
            }
            let last = points.last().map_or(0.0, |p| p.0);
            points.push((end_s.max(last), n));
            (class, points)
        })
        .collect()
}

type PlotResult = Result<(), String>;

fn svg(
    draw: impl FnOnce(DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> PlotResult,
) -> Result<String, LoadtestError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        draw(root).map_err(LoadtestError::Draw)?;
    }
    Ok(out)
}

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

/// A chart with seconds or update numbers across and counts up.
type CountChart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<coord::types::RangedCoordf64, coord::types::RangedCoordu32>>;

/// Draws the legend in the lower right and finishes the drawing.
fn legend_and_present<'a, 'b: 'a>(
    chart: &mut CountChart<'a, 'b>,
    root: &DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
) -> PlotResult {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

fn empty_plot(root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>, text: &str) -> PlotResult {
    root.fill(&WHITE).map_err(err)?;
    root.draw(&Text::new(text.to_string(), (20, i32::try_from(HEIGHT / 2).unwrap_or(100)), ("sans-serif", 18)))
        .map_err(err)?;
    root.present().map_err(err)
}

fn latency_svg(r: &Report) -> Result<String, LoadtestError> {
    let points = cdf(&r.latency_buckets);
    let marks: Vec<(&str, u64)> = [("p50", r.latency.p50_us), ("p95", r.latency.p95_us), ("p99", r.latency.p99_us)]
        .into_iter()
        .filter_map(|(n, v)| v.map(|v| (n, v)))
        .collect();
    svg(|root| {
        if points.is_empty() {
            return empty_plot(&root, "No update was delivered: there is no latency to plot.");
        }
        root.fill(&WHITE).map_err(err)?;
        let lo = points.first().map_or(0.001, |p| p.0).min(ms(marks.first().map_or(1, |m| m.1)).max(0.001)) * 0.8;
        let hi = points.last().map_or(1.0, |p| p.0).max(lo * 2.0) * 1.1;
        // Over more than a decade a log axis keeps the tail readable; otherwise linear.
        let log = hi / lo > 10.0;
        let fx = move |v: f64| if log { v.log10() } else { v };
        let caption = format!(
            "CDF of {} deliveries: p50 {}, p95 {}, p99 {}, max {}",
            r.latency.samples,
            ms_text(r.latency.p50_us),
            ms_text(r.latency.p95_us),
            ms_text(r.latency.p99_us),
            ms_text(r.latency.max_us)
        );
        let (x0, x1) = if log { (fx(lo), fx(hi)) } else { (0.0, hi) };
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(x0..x1, 0f64..105f64)
            .map_err(err)?;
        let label = move |v: &f64| {
            let m = if log { 10f64.powf(*v) } else { *v };
            if m >= 10.0 { format!("{m:.0}") } else { format!("{m:.1}") }
        };
        chart
            .configure_mesh()
            .x_desc(if log { "publish-to-receive latency (ms, log scale)" } else { "publish-to-receive latency (ms)" })
            .y_desc("% of deliveries")
            .x_labels(12)
            .x_label_formatter(&label)
            .draw()
            .map_err(err)?;
        // A step line: each bucket's share holds until the next bucket's bound.
        let mut steps = vec![(x0, 0.0)];
        for &(x, y) in &points {
            let prev = steps.last().map_or(0.0, |p| p.1);
            steps.push((fx(x), prev));
            steps.push((fx(x), y));
        }
        chart.draw_series(LineSeries::new(steps, BLUE.stroke_width(2))).map_err(err)?;
        let colors = [RGBColor(0, 140, 70), RGBColor(220, 120, 0), RGBColor(200, 0, 0)];
        for (i, (name, v)) in marks.iter().enumerate() {
            let x = fx(ms(*v).max(lo));
            let color = colors[i % colors.len()];
            chart
                .draw_series(DashedLineSeries::new(vec![(x, 0.0), (x, 100.0)], 6, 4, color.stroke_width(2)))
                .map_err(err)?;
            #[allow(clippy::cast_precision_loss)]
            let y = 100.0 - 8.0 * (i as f64 + 1.0);
            // Labels of marks near the right edge go to the line's left, inside the plot.
            let h = if x > x0 + (x1 - x0) * 0.6 { HPos::Right } else { HPos::Left };
            let style = ("sans-serif", 14).into_font().color(&color).pos(Pos::new(h, VPos::Center));
            chart
                .draw_series(std::iter::once(Text::new(format!(" {name} {} ", ms_text(Some(*v))), (x, y), style)))
                .map_err(err)?;
        }
        root.present().map_err(err)
    })
}

/// A color per connection class: green for established, grey for dropped, others distinct.
fn class_color(class: &str, i: usize) -> RGBColor {
    match class {
        ESTABLISHED => RGBColor(0, 140, 70),
        DROPPED => RGBColor(120, 120, 120),
        "502" => RGBColor(200, 0, 0),
        "refused" => RGBColor(150, 0, 150),
        "timeout" => RGBColor(220, 120, 0),
        "reset" => RGBColor(0, 90, 200),
        "closed" => RGBColor(0, 160, 170),
        "other_http" => RGBColor(150, 100, 20),
        "tls" => RGBColor(200, 60, 120),
        "client_limit" => RGBColor(30, 30, 30),
        _ => [RGBColor(110, 110, 190), RGBColor(170, 170, 60)][i % 2],
    }
}

fn connections_svg(r: &Report) -> Result<String, LoadtestError> {
    #[allow(clippy::cast_precision_loss)]
    let end = r.connection_events.iter().map(|(t, _)| *t).max().map_or(1.0, |t| t as f64 / 1000.0).max(r.ramp_seconds);
    let series = cumulative(&r.connection_events, end);
    svg(|root| {
        if series.is_empty() {
            return empty_plot(&root, "No connection attempt finished.");
        }
        root.fill(&WHITE).map_err(err)?;
        let top = series.iter().filter_map(|(_, p)| p.last().map(|l| l.1)).max().unwrap_or(1).max(1);
        let failed: Vec<String> = r.failed_by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let caption = format!(
            "{} established, {} failed{}, {} dropped",
            r.established,
            r.failed,
            if failed.is_empty() { String::new() } else { format!(" ({})", failed.join(", ")) },
            r.dropped
        );
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..(end * 1.05).max(0.01), 0u32..(top + top / 10 + 1))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("seconds since the start")
            .y_desc("connections (running total)")
            .draw()
            .map_err(err)?;
        for (i, (class, points)) in series.iter().enumerate() {
            let color = class_color(class, i);
            let total = points.last().map_or(0, |p| p.1);
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(err)?
                .label(format!("{class}: {total}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3)));
        }
        legend_and_present(&mut chart, &root)
    })
}

fn deliveries_svg(r: &Report) -> Result<String, LoadtestError> {
    let counts = &r.per_update_delivered;
    svg(|root| {
        if counts.is_empty() || r.published == 0 {
            return empty_plot(&root, "No update was published.");
        }
        root.fill(&WHITE).map_err(err)?;
        let n = u32::try_from(counts.len()).unwrap_or(u32::MAX);
        let top = counts.iter().copied().max().unwrap_or(0).max(r.established).max(1);
        let min = counts.iter().copied().min().unwrap_or(0);
        let caption =
            format!("{} updates to {} subscribers: fewest {min}, {} lost in all", r.published, r.established, r.lost());
        let right = f64::from(n) - 0.5;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..right, 0u32..(top + top / 10 + 1))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("update (in publish order, from 1)")
            .y_desc("subscribers that received it")
            .x_labels(usize::try_from(n).unwrap_or(20).min(20))
            .x_label_formatter(&|v| if v.fract() == 0.0 && *v >= 0.0 { format!("{}", v + 1.0) } else { String::new() })
            .draw()
            .map_err(err)?;
        let bar = RGBColor(0, 90, 200);
        // Gaps between bars while they are few; touching bars beyond.
        let half = if n <= 300 { 0.35 } else { 0.5 };
        chart
            .draw_series(counts.iter().enumerate().map(|(i, &c)| {
                #[allow(clippy::cast_precision_loss)]
                let x = i as f64;
                let color = if c < r.established { RGBColor(200, 0, 0) } else { bar };
                Rectangle::new([(x - half, 0), (x + half, c)], color.filled())
            }))
            .map_err(err)?
            .label(format!("received (blue: all {}, red: fewer)", r.established))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], bar.filled()));
        chart
            .draw_series(DashedLineSeries::new(
                vec![(-0.5, r.established), (right, r.established)],
                6,
                4,
                BLACK.stroke_width(1),
            ))
            .map_err(err)?
            .label(format!("established subscribers: {}", r.established))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK));
        legend_and_present(&mut chart, &root)
    })
}

const STYLE: &str = "body{font-family:sans-serif;max-width:900px;margin:1em auto;color:#222}\
h1{font-size:1.4em}h2{font-size:1.15em;border-bottom:1px solid #ccc;margin-top:1.4em}\
table{border-collapse:collapse}th{text-align:left;font-weight:normal;color:#555;padding:2px 16px 2px 0}\
td{font-variant-numeric:tabular-nums}.verdict{font-weight:bold;padding:.5em}.pass{color:#075}.fail{color:#b00}\
.finding{border-left:3px solid #b00;padding-left:.8em}pre{background:#f6f6f6;padding:.6em;overflow-x:auto}";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadtest::spec::tests::args;
    use crate::loadtest::stats::Latency;

    fn report() -> Report {
        Report {
            public_url: "https://a.example.com/.well-known/mercure".into(),
            subscribers: 4,
            updates: 3,
            rate: 1.0,
            established: 3,
            failed: 1,
            failed_by_kind: vec![("502".into(), 1)],
            published: 3,
            expected_deliveries: 9,
            delivered: 8,
            latency: Latency {
                samples: 8,
                p50_us: Some(2_000),
                p95_us: Some(9_000),
                p99_us: Some(9_000),
                max_us: Some(9_000),
            },
            latency_buckets: vec![(1_500, 2), (2_000, 3), (4_000, 2), (9_000, 1)],
            connection_events: vec![(10, ESTABLISHED), (12, "502"), (15, ESTABLISHED), (20, ESTABLISHED)],
            per_update_delivered: vec![3, 2, 3],
            ..Report::default()
        }
    }

    #[test]
    fn cdf_reaches_100_percent() {
        let c = cdf(&[(1_000, 1), (3_000, 3)]);
        assert_eq!(c, [(1.0, 25.0), (3.0, 100.0)]);
        assert!(cdf(&[]).is_empty());
    }

    #[test]
    fn cumulative_counts_per_class_established_first() {
        let c = cumulative(&[(500, "502"), (1000, ESTABLISHED), (2000, ESTABLISHED)], 3.0);
        assert_eq!(c[0].0, ESTABLISHED);
        assert_eq!(c[0].1, [(0.0, 0), (1.0, 0), (1.0, 1), (2.0, 1), (2.0, 2), (3.0, 2)]);
        assert_eq!(c[1].0, "502");
        assert_eq!(c[1].1.last(), Some(&(3.0, 1)));
    }

    #[test]
    fn page_holds_the_numbers_and_loads_nothing() {
        let page = html(&report(), &args()).unwrap();
        assert!(page.starts_with("<!DOCTYPE html>\n<!-- mercure-setup loadtest report -->\n"));
        for want in [
            "p50 2.0 ms",
            "p95 9.0 ms",
            "3 established, 1 failed (502 1)",
            "established: 3",
            "502: 1",
            "FAIL: 1 connection(s) failed",
        ] {
            assert!(page.contains(want), "{want} missing");
        }
        assert_eq!(page.matches("<svg").count(), 3);
        assert!(!page.contains("<script"), "no scripts");
        for url_attr in ["src=", "href=", "url("] {
            assert!(!page.contains(url_attr), "{url_attr} would load something");
        }
    }

    #[test]
    fn empty_runs_still_draw() {
        let page = html(&Report::default(), &args()).unwrap();
        assert!(page.contains("No update was delivered"));
        assert!(page.contains("No connection attempt finished"));
    }

    #[test]
    fn only_earlier_reports_are_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let mine = dir.path().join("answers.yaml");
        std::fs::write(&mine, "domain: a.com\n").unwrap();
        let refused = crate::error::Error::from(check_path(&mine).unwrap_err());
        assert_eq!(refused.exit_code(), crate::error::EXIT_USAGE);
        assert!(refused.to_string().ends_with(
            "answers.yaml: the file exists and is not a mercure-setup loadtest report; choose another name"
        ));
        let blocked =
            crate::error::Error::from(write(&dir.path().join("no/such/dir.html"), &report(), &args()).unwrap_err());
        assert_eq!(blocked.exit_code(), crate::error::EXIT_FAILURE);
        assert!(blocked.to_string().starts_with("writing the report "), "{blocked}");
        let page = dir.path().join("r.html");
        write(&page, &report(), &args()).unwrap();
        write(&page, &report(), &args()).unwrap();
        assert!(check_path(&dir.path().join("new.html")).is_ok());
        assert_eq!(std::fs::read_to_string(&mine).unwrap(), "domain: a.com\n");
    }
}
