//! Drawing for `redislab bench`: its progress bars, the result table with proportional bars,
//! the explanations, the throughput summary, and the SVG chart. Measuring lives in `bench`,
//! which reports progress through `measure::Ticker` and never draws.

use std::fmt::Write as _;
use std::path::Path;

use std::sync::Arc;

use anyhow::{Context, Result};
use comfy_table::{Cell, Color as TableColor};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use plotters::prelude::*;

use super::table::{align_right, new_table};
use super::ticker::Bar;
use crate::bench::throughput::ThroughputReport;
use crate::bench::{Progress, Report, Row};
use crate::measure::{human_rate, human_us};

/// Cells in a proportional bar at full length.
const BAR_WIDTH: usize = 10;

/// The suite's two bars, cells done and samples in the current cell, hidden unless `show`.
/// Keep the value alive while the run draws.
pub struct SuiteBars {
    _multi: MultiProgress,
    pub progress: Progress,
}

pub fn suite_bars(show: bool) -> SuiteBars {
    let multi = MultiProgress::with_draw_target(if show {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let overall = multi.add(ProgressBar::new(0));
    overall.set_style(overall_style());
    let cell = multi.add(ProgressBar::new(0));
    cell.set_style(cell_style());
    SuiteBars {
        _multi: multi,
        progress: Progress {
            overall: Arc::new(Bar(overall)),
            cell: Arc::new(Bar(cell)),
        },
    }
}

/// The one bar of `bench --throughput` (requests answered).
pub fn throughput_bar(show: bool) -> Arc<Bar> {
    let pb = if show {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    pb.set_style(cell_style());
    Arc::new(Bar(pb))
}

fn overall_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{spinner} bench {bar:30.cyan/blue} {pos}/{len} cells · {elapsed} · {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
}

fn cell_style() -> ProgressStyle {
    ProgressStyle::with_template("  {bar:30.green/black} {pos}/{len} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

fn colour_on() -> bool {
    colored::control::SHOULD_COLORIZE.should_colorize()
}

/// A bar proportional to `value / max`, at least one block.
pub fn bar(value: f64, max: f64) -> String {
    let n = if max > 0.0 {
        ((value / max) * BAR_WIDTH as f64).round() as usize
    } else {
        0
    };
    "█".repeat(n.clamp(1, BAR_WIDTH))
}

/// The result table, the column legend, one explanation per row, and the notes.
pub fn render(report: &Report) -> String {
    let mut header = vec!["row".to_string()];
    header.extend(report.columns.iter().map(|c| c.title.clone()));
    let mut t = new_table(header.iter().map(String::as_str).collect());
    for row in &report.rows {
        t.add_row(row_cells(report, row));
    }
    align_right(&mut t, &(1..=report.columns.len()).collect::<Vec<_>>());
    // Too narrow for a column per mode (figures would be cut across lines): one block per row.
    let narrow = usize::from(super::width()) < NARROW_BELOW + MODE_COLUMN * report.columns.len();
    let t = if narrow {
        by_row(report)
    } else {
        t.to_string()
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        super::heading("Redis vs SQLite, measured on this machine")
    );
    let _ = writeln!(
        out,
        "{}",
        super::dim(&super::text::flow(
            &format!(
                "p50 latency (lower is better) · bar = p50 relative to the slowest in the row · ★ fastest · {} {} on {}, SQLite {} in process · {} CPUs{}",
                report.meta.server_product,
                report.meta.server_version,
                report.meta.server,
                report.meta.sqlite_version,
                report.meta.cpus,
                report
                    .meta
                    .cpu_model
                    .as_ref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            ),
            "",
            usize::from(super::width())
        ))
    );
    let _ = writeln!(out, "{t}");
    let _ = writeln!(out, "{}", super::heading("Why, row by row"));
    // Flowed to the screen with a hanging indent, so no figure is cut across two lines.
    let width = usize::from(super::width());
    let w = report.rows.iter().map(|r| r.id.len()).max().unwrap_or(0);
    for row in &report.rows {
        let label = format!("{:<w$} ", row.id);
        let text = format!(
            "{}  {}",
            row.explanation,
            super::dim(&format!("({})", row.unit))
        );
        let _ = writeln!(
            out,
            "{}",
            super::text::labeled(&label, &label, &text, "  ", width)
        );
    }
    let _ = writeln!(out, "{}", super::heading("Columns"));
    let cw = report
        .columns
        .iter()
        .map(|c| c.title.len())
        .max()
        .unwrap_or(0);
    for c in &report.columns {
        let label = format!("{:<cw$} ", c.title);
        let _ = writeln!(
            out,
            "{}",
            super::text::labeled(&label, &label, &c.settings, "  ", width)
        );
    }
    notes(&mut out, report);
    let samples = match report.meta.cell_budget_s {
        Some(b) => format!(
            "up to {} samples per cell (batch rows fewer), at most {:.1} s each, after warm-up",
            report.meta.iterations, b
        ),
        None => format!(
            "{} samples per cell (batch rows fewer), after warm-up",
            report.meta.iterations
        ),
    };
    let _ = writeln!(
        out,
        "{}",
        super::dim(&super::text::flow(
            &format!(
                "{samples} · {} clients for concurrent-incr · {:.1} s in all · --json or --csv for every figure",
                report.meta.clients, report.meta.wall_seconds
            ),
            "",
            width
        ))
    );
    out
}

/// Checks made on results (lost updates in red) and the run's notes, if any.
fn notes(out: &mut String, report: &Report) {
    let width = usize::from(super::width());
    let checks: Vec<String> = report
        .rows
        .iter()
        .flat_map(|r| {
            r.cells
                .iter()
                .filter(|c| c.stats.is_some())
                .filter_map(move |c| {
                    c.note
                        .as_ref()
                        .map(|n| format!("{} · {}: {n}", r.id, c.column))
                })
        })
        .collect();
    if !checks.is_empty() || !report.notes.is_empty() {
        let _ = writeln!(out, "{}", super::heading("Notes"));
        for c in checks {
            let flowed = super::text::flow(&c, "  ", width);
            let line = if c.contains("LOST") {
                super::bad(&flowed)
            } else {
                flowed
            };
            let _ = writeln!(out, "{line}");
        }
        for n in &report.notes {
            let _ = writeln!(out, "{}", super::warn(&super::text::flow(n, "  ", width)));
        }
    }
}

/// Screen columns a wide table needs for its row names, and for each mode (the bar and
/// `p99 116.7µs` whole, with the cell's borders).
const NARROW_BELOW: usize = 16;
const MODE_COLUMN: usize = 13;

/// The results for a narrow screen: per row its name and what it does, then one line per mode
/// (p50, p99, rate), the fastest starred. Every figure stays whole on its line.
fn by_row(report: &Report) -> String {
    let width = usize::from(super::width());
    let tw = report
        .columns
        .iter()
        .map(|c| c.title.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for row in &report.rows {
        let about = format!("{} ({})", row.label, row.unit);
        let _ = writeln!(
            out,
            "{}",
            super::text::labeled(&row.id, &super::heading(&row.id), &about, "", width)
        );
        for col in &report.columns {
            let title = format!("{:<tw$}", col.title);
            let cell = row.cells.iter().find(|c| c.column == col.id);
            let Some(stats) = cell.and_then(|c| c.stats.as_ref()) else {
                let _ = writeln!(out, "  {title}  {}", super::dim("— (read)"));
                continue;
            };
            let fastest = row.fastest.as_deref() == Some(col.id.as_str());
            let line = format!(
                "  {title}  {:>8}{}  p99 {:>8}  {}/s",
                compact(stats.p50_us),
                if fastest { " ★" } else { "  " },
                compact(stats.p99_us),
                human_rate(stats.ops_per_sec)
            );
            let _ = writeln!(out, "{}", if fastest { super::good(&line) } else { line });
        }
    }
    out
}

/// A latency without the space, for narrow cells: 9.73µs, 251.9µs, 22.7ms.
fn compact(us: f64) -> String {
    human_us(us).replace(' ', "")
}

fn row_cells(report: &Report, row: &Row) -> Vec<Cell> {
    let max = row
        .cells
        .iter()
        .filter_map(|c| c.stats.as_ref().map(|s| s.p50_us))
        .fold(0.0f64, f64::max);
    let mut cells = vec![Cell::new(format!("{}\n{}", row.id, row.label))];
    for col in &report.columns {
        let cell = row.cells.iter().find(|c| c.column == col.id);
        let Some(stats) = cell.and_then(|c| c.stats.as_ref()) else {
            cells.push(Cell::new("—\n(read)"));
            continue;
        };
        let fastest = row.fastest.as_deref() == Some(col.id.as_str());
        let text = format!(
            "{}{}\n{}\np99 {}\n{}/s",
            compact(stats.p50_us),
            if fastest { " ★" } else { "" },
            bar(stats.p50_us, max),
            compact(stats.p99_us),
            human_rate(stats.ops_per_sec)
        );
        let mut c = Cell::new(text);
        if fastest && colour_on() {
            c = c.fg(TableColor::Green);
        }
        cells.push(c);
    }
    cells
}

/// The throughput summary.
pub fn render_throughput(r: &ThroughputReport) -> String {
    let mut t = new_table(vec![
        "clients",
        "pipeline",
        "requests",
        "GET/s",
        "p50 round trip",
        "p99 round trip",
        "seconds",
    ]);
    t.add_row(vec![
        r.clients.to_string(),
        r.pipeline.to_string(),
        r.requests.to_string(),
        format!("{:.0}", r.ops_per_sec),
        human_us(r.round_trip.p50_us),
        human_us(r.round_trip.p99_us),
        format!("{:.2}", r.seconds),
    ]);
    align_right(&mut t, &[0, 1, 2, 3, 4, 5, 6]);
    format!(
        "{}\n{t}\n{}\n",
        super::heading(&format!(
            "GET throughput against {} ({} {})",
            r.server, "Redis", r.server_version
        )),
        super::dim(&format!(
            "compare with: {} · transport: {} · a round trip carries {} command(s)",
            r.compare_with, r.transport, r.pipeline
        ))
    )
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

/// A grouped bar chart of p50 per row and column (log scale), as SVG.
pub fn write_chart(report: &Report, path: &Path) -> Result<()> {
    let mut svg = String::new();
    draw_chart(report, &mut svg).map_err(|e| anyhow::anyhow!("could not draw the chart: {e}"))?;
    std::fs::write(path, svg).with_context(|| format!("could not write {}", path.display()))
}

fn draw_chart(
    report: &Report,
    svg: &mut String,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let n = report.rows.len().max(1);
    let values: Vec<f64> = report
        .rows
        .iter()
        .flat_map(|r| {
            r.cells
                .iter()
                .filter_map(|c| c.stats.as_ref().map(|s| s.p50_us))
        })
        .filter(|v| *v > 0.0)
        .collect();
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(0.0f64, f64::max);
    let (lo, hi) = if values.is_empty() {
        (0.1, 10.0)
    } else {
        (lo / 2.0, hi * 2.0)
    };
    let width = (140 * n as u32).clamp(900, 2000);
    {
        let root = SVGBackend::with_string(svg, (width, 640)).into_drawing_area();
        root.fill(&WHITE)?;
        let labels: Vec<String> = report.rows.iter().map(|r| r.id.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "p50 latency per row, log scale (lower is better) · {} {} vs SQLite {}",
                    report.meta.server_product,
                    report.meta.server_version,
                    report.meta.sqlite_version
                ),
                ("sans-serif", 20),
            )
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), (lo..hi).log_scale())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n + 1)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc("p50 (µs)")
            .y_label_formatter(&|y| format!("{y}"))
            .draw()?;
        let cols = report.columns.len().max(1);
        let w = 0.8 / cols as f64;
        for (j, col) in report.columns.iter().enumerate() {
            let colour = PALETTE[j % PALETTE.len()];
            let bars: Vec<_> = report
                .rows
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    let s = r.cell(&col.id)?;
                    let x0 = i as f64 - 0.4 + j as f64 * w;
                    Some(Rectangle::new(
                        [(x0, lo), (x0 + w * 0.9, s.p50_us)],
                        colour.filled(),
                    ))
                })
                .collect();
            chart
                .draw_series(bars)?
                .label(format!("{} ({})", col.title, col.settings))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled())
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()?;
        root.present()?;
    }
    Ok(())
}
