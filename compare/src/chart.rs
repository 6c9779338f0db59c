//! SVG charts (plotters): a workload timeline and the ratio bar chart.

use std::path::Path;

use plotters::prelude::*;

use crate::bench::PhaseResult;
use crate::engine::Result;

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn err(e: impl std::fmt::Display) -> crate::engine::BoxError {
    e.to_string().into()
}

/// Three stacked panels over time — ops/s, p99.9 latency and time stalled
/// per second — with the workloads one after another on the time axis.
pub fn timeline_svg(path: &Path, engine: &str, results: &[PhaseResult]) -> Result<()> {
    let root = SVGBackend::new(path, (1000, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root
        .titled(
            &format!("{engine}: per-second timeline"),
            ("sans-serif", 22),
        )
        .map_err(err)?;
    let panels = root.split_evenly((3, 1));
    // Offsets: each workload starts where the previous one ended.
    let mut offsets = Vec::new();
    let mut t0 = 0u64;
    for r in results {
        offsets.push(t0);
        t0 += r.timeline.len() as u64 + 1;
    }
    let x_max = t0.max(2);
    type Get = fn(&crate::bench::Second) -> f64;
    let metrics: [(&str, Get); 3] = [
        ("ops/s", |s| s.ops as f64),
        ("p99.9 latency (us)", |s| s.p999_us),
        ("stalled (ms per s)", |s| s.stall_ms.unwrap_or(0.0)),
    ];
    for (panel, (name, get)) in panels.iter().zip(metrics) {
        let y_max = results
            .iter()
            .flat_map(|r| r.timeline.iter().map(get))
            .fold(1.0f64, f64::max)
            * 1.1;
        let mut chart = ChartBuilder::on(panel)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(0u64..x_max, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .y_desc(name)
            .draw()
            .map_err(err)?;
        for (i, (r, off)) in results.iter().zip(&offsets).enumerate() {
            if r.timeline.is_empty() {
                continue;
            }
            let color = COLORS[i % COLORS.len()];
            chart
                .draw_series(LineSeries::new(
                    r.timeline.iter().map(|s| (off + s.t, get(s))),
                    color.stroke_width(2),
                ))
                .map_err(err)?
                .label(r.benchmark.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], color));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

/// Horizontal bars: for each workload, rillkv's ratio to each peer
/// (higher is better for rillkv), with a line at 1.0.
pub fn ratios_svg(
    path: &Path,
    title: &str,
    rows: &[(String, Vec<Option<f64>>)],
    peers: &[String],
) -> Result<()> {
    let height = 120 + 28 * rows.len() as u32 * peers.len().max(1) as u32;
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let x_max = rows
        .iter()
        .flat_map(|(_, r)| r.iter().flatten().copied())
        .fold(2.0f64, f64::max)
        * 1.1;
    let n = (rows.len() * peers.len().max(1)) as i32;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(170)
        .build_cartesian_2d(0f64..x_max, (0i32..n).into_segmented())
        .map_err(err)?;
    let labels: Vec<String> = rows
        .iter()
        .flat_map(|(name, _)| peers.iter().map(move |p| format!("{name} vs {p}")))
        .collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n as usize)
        .y_label_formatter(&|y| match y {
            SegmentValue::CenterOf(v) => labels
                .get((n - 1 - *v) as usize)
                .cloned()
                .unwrap_or_default(),
            _ => String::new(),
        })
        .x_desc("rillkv / peer (throughput; >1 = rillkv faster)")
        .draw()
        .map_err(err)?;
    let mut idx = 0;
    for (_, ratios) in rows {
        for (pi, r) in ratios.iter().enumerate() {
            let y = n - 1 - idx;
            if let Some(v) = r {
                let color = COLORS[pi % COLORS.len()];
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [
                            (0.0, SegmentValue::Exact(y)),
                            (*v, SegmentValue::Exact(y + 1)),
                        ],
                        color.mix(0.8).filled(),
                    )))
                    .map_err(err)?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!("{v:.2}"),
                        (*v + x_max * 0.01, SegmentValue::CenterOf(y)),
                        ("sans-serif", 13),
                    )))
                    .map_err(err)?;
            }
            idx += 1;
        }
    }
    chart
        .draw_series(LineSeries::new(
            vec![(1.0, SegmentValue::Exact(0)), (1.0, SegmentValue::Exact(n))],
            BLACK.stroke_width(2),
        ))
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
