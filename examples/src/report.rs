//! The run report: one self-contained HTML file with SVG charts of throughput, write latency and
//! lag over time, the summary table and any further tables. It needs no network to be viewed.

use graph_ingest::stats::Sample;
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::Path;

/// One named line of a chart: its name, colour and (seconds, value) points.
type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

/// One chart: a title, a unit and its lines.
struct Chart<'a> {
    title: &'a str,
    unit: &'a str,
    series: Vec<Series<'a>>,
}

fn svg(chart: &Chart<'_>) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (900, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let max_x = chart
            .series
            .iter()
            .flat_map(|s| s.2.iter().map(|p| p.0))
            .fold(1.0_f64, f64::max);
        let max_y = chart
            .series
            .iter()
            .flat_map(|s| s.2.iter().map(|p| p.1))
            .fold(1.0_f64, f64::max)
            * 1.1;
        let mut ctx = ChartBuilder::on(&root)
            .caption(chart.title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..max_x, 0.0..max_y)
            .map_err(|e| e.to_string())?;
        ctx.configure_mesh()
            .x_desc("seconds")
            .y_desc(chart.unit)
            .draw()
            .map_err(|e| e.to_string())?;
        for (name, color, points) in &chart.series {
            let color = *color;
            ctx.draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        ctx.configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A table of the report after the summary: a title, column headings and rows of cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Shown above the table.
    pub title: String,
    /// The column headings.
    pub columns: Vec<String>,
    /// The rows, a cell per column.
    pub rows: Vec<Vec<String>>,
}

/// What a report shows.
#[derive(Debug, Clone, Copy)]
pub struct ReportContent<'a> {
    /// The page's title.
    pub title: &'a str,
    /// The summary: (label, value) rows.
    pub summary: &'a [(String, String)],
    /// Tables after the summary.
    pub tables: &'a [Table],
    /// What the pipeline wrote, in the plural (`edges`, `changes`), for the throughput chart.
    pub items: &'a str,
    /// The run's timeline.
    pub timeline: &'a [Sample],
}

/// Writes the report to `path`: a summary table (label, value rows), the other tables and three
/// charts.
pub fn write_report(
    path: &Path,
    title: &str,
    summary: &[(String, String)],
    timeline: &[Sample],
) -> std::io::Result<()> {
    write_report_of(
        path,
        &ReportContent {
            title,
            summary,
            tables: &[],
            items: "edges",
            timeline,
        },
    )
}

/// Writes the report of `content` to `path`.
pub fn write_report_of(path: &Path, content: &ReportContent<'_>) -> std::io::Result<()> {
    let (title, summary, timeline) = (content.title, content.summary, content.timeline);
    let pick = |f: fn(&Sample) -> f64| timeline.iter().map(|s| (s.t, f(s))).collect::<Vec<_>>();
    let unit = format!("{}/s", content.items);
    let throughput = format!("{} in the graph per second", content.items);
    let charts = [
        Chart {
            title: "Throughput",
            unit: &unit,
            series: vec![(&throughput, BLUE, pick(|s| s.items_per_s))],
        },
        Chart {
            title: "Write latency (per sub-batch request)",
            unit: "ms",
            series: vec![
                ("p50", GREEN, pick(|s| s.write_p50_ms)),
                ("p99", RED, pick(|s| s.write_p99_ms)),
            ],
        },
        Chart {
            title: "Lag and put-to-graph latency",
            unit: "ms",
            series: vec![
                (
                    "IteratorAge (newest record read)",
                    MAGENTA,
                    pick(|s| s.iterator_age_ms),
                ),
                ("MillisBehindLatest", GREEN, pick(|s| s.lag_ms)),
                ("put-to-graph p99", CYAN, pick(|s| s.e2e_p99_ms)),
            ],
        },
    ];
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:sans-serif;margin:2em;max-width:960px}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:4px 10px}}td:first-child{{font-weight:bold}}</style></head><body><h1>{t}</h1><table>",
        t = escape(title)
    );
    for (k, v) in summary {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(k),
            escape(v)
        );
    }
    html.push_str("</table>");
    for table in content.tables {
        let _ = write!(html, "<h2>{}</h2><table><tr>", escape(&table.title));
        for c in &table.columns {
            let _ = write!(html, "<th>{}</th>", escape(c));
        }
        html.push_str("</tr>");
        for row in &table.rows {
            html.push_str("<tr>");
            for cell in row {
                let _ = write!(html, "<td>{}</td>", escape(cell));
            }
            html.push_str("</tr>");
        }
        html.push_str("</table>");
    }
    for chart in &charts {
        html.push_str("<div>");
        html.push_str(&svg(chart).map_err(std::io::Error::other)?);
        html.push_str("</div>");
    }
    html.push_str("</body></html>\n");
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_is_one_html_file_with_three_svg_charts_and_the_summary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.html");
        let timeline: Vec<Sample> = (1..=5)
            .map(|i| Sample {
                t: i as f64,
                items_per_s: 1000.0 * i as f64,
                write_p50_ms: 5.0,
                write_p99_ms: 9.0,
                e2e_p99_ms: 300.0,
                lag_ms: 0.0,
                iterator_age_ms: 40.0,
                held: 0,
            })
            .collect();
        write_report(
            &path,
            "run <1>",
            &[("edges written".into(), "15000".into())],
            &timeline,
        )
        .unwrap();
        let html = std::fs::read_to_string(&path).unwrap();
        assert_eq!(html.matches("<svg").count(), 3);
        assert!(html.contains("<td>edges written</td><td>15000</td>"));
        assert!(html.contains("run &lt;1&gt;"), "the title is escaped");
        assert!(
            !html.contains("http://") || html.contains("http://www.w3.org"),
            "no external resources"
        );
    }

    #[test]
    fn further_tables_follow_the_summary_and_the_chart_counts_the_items_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.html");
        let table = Table {
            title: "Changes by kind".into(),
            columns: vec!["kind".into(), "applied".into()],
            rows: vec![vec!["follow".into(), "12".into()]],
        };
        write_report_of(
            &path,
            &ReportContent {
                title: "run",
                summary: &[("changes generated".into(), "12".into())],
                tables: &[table],
                items: "changes",
                timeline: &[],
            },
        )
        .unwrap();
        let html = std::fs::read_to_string(&path).unwrap();
        assert!(html.contains(
            "<h2>Changes by kind</h2><table><tr><th>kind</th><th>applied</th></tr><tr><td>follow</td><td>12</td></tr></table>"
        ));
        assert!(html.contains("changes in the graph per second"));
        assert_eq!(html.matches("<svg").count(), 3);
    }
}
