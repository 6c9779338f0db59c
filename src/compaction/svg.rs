//! A picture of the tree: [`render`] draws a [`TreeShape`] as SVG text.
//!
//! Each sorted run is a row, newest on top; each table is a bar across the
//! key space whose height grows with its bytes (log scale, labelled);
//! overlap groups are coloured distinctly; the job the policy would run
//! next is outlined.
//! `rillkv shape DIR --out tree.svg` draws a database's tree with it, and
//! `examples/compaction_sim.rs --svg DIR` the simulated trees.
//!
//! It lives here, always compiled, rather than behind the `cli` feature:
//! it is a pure function of the public [`TreeShape`] and
//! [`CompactionJob`] that writes text, with no dependency, so the
//! simulator (an example built without features) can use the very same
//! drawing as the CLI.
//!
//! # Mapping keys to x
//! Keys are placed by **rank**: every distinct table boundary key (each
//! table's smallest and largest) gets one equal-width slot, in key order,
//! and a table spans the slots from its smallest key's to its largest's.
//! The alternative, interpolating a key's leading bytes as a number, shows
//! key-space distances but fails on real keys: a shared prefix
//! (`user:0000…`) squeezes everything into a sliver, keys that differ only
//! past the bytes interpolated collapse to one x, and a table holding a
//! single key has no width. The rank mapping is monotone, so two bars
//! overlap horizontally exactly when the tables' key ranges overlap (closed
//! ranges sharing a boundary key share its slot), which is what the
//! picture is for; every table is at least one slot wide. Widths therefore
//! show how many other tables' boundaries a table spans, not how much of
//! the key space it covers; the axis labels name the keys at a few ranks.
//!
//! # Output
//! A standalone SVG 1.1 document. Every table is exactly one
//! `<rect class="table">` with a `<title>` tooltip (number, run, bytes,
//! key range); the outline of the next job is a `<rect class="next">`;
//! legend swatches are `<rect class="legend">`. Text is XML-escaped.

use std::collections::HashMap;
use std::fmt::Write as _;

use bytes::Bytes;

use super::policy::CompactionJob;
use crate::version::TreeShape;

/// Fill colours for overlap groups, in key order (cycled). Neighbouring
/// groups always differ.
const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// What to draw besides the tree.
#[derive(Debug, Clone)]
pub struct SvgOptions {
    /// The title line.
    pub title: String,
    /// Lines under the title (settings, counts).
    pub subtitle: Vec<String>,
    /// Width of the picture in pixels.
    pub width: u32,
    /// How keys are written in labels and tooltips (default
    /// [`key_label`]: text when printable, hex otherwise).
    pub key_label: fn(&[u8]) -> String,
}

impl Default for SvgOptions {
    fn default() -> Self {
        SvgOptions {
            title: "rillkv tree".to_owned(),
            subtitle: Vec::new(),
            width: 1200,
            key_label,
        }
    }
}

/// A key for a label: text when printable, hex otherwise, cut at 20 bytes.
///
/// ```
/// use rillkv::compaction::svg::key_label;
/// assert_eq!(key_label(b"user:42"), "user:42");
/// assert_eq!(key_label(&[0x00, 0xff]), "0x00ff");
/// assert_eq!(key_label(b"a-key-longer-than-twenty-bytes"), "a-key-longer-than-tw…");
/// ```
pub fn key_label(key: &[u8]) -> String {
    let cut = key.get(..20).unwrap_or(key);
    let more = if cut.len() < key.len() { "…" } else { "" };
    if !cut.is_empty() && cut.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("{}{more}", String::from_utf8_lossy(cut))
    } else {
        let hex: String = cut.iter().map(|b| format!("{b:02x}")).collect();
        format!("0x{hex}{more}")
    }
}

/// Bytes as `12.3 MiB`.
///
/// ```
/// use rillkv::compaction::svg::human_bytes;
/// assert_eq!(human_bytes(512), "512 B");
/// assert_eq!(human_bytes(1536), "1.5 KiB");
/// assert_eq!(human_bytes(64 << 20), "64.0 MiB");
/// ```
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    let name = UNITS.get(unit).copied().unwrap_or("B");
    if unit == 0 {
        format!("{bytes} {name}")
    } else {
        format!("{v:.1} {name}")
    }
}

/// Escapes text for XML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// The rank mapping: each distinct boundary key's slot.
struct KeyAxis {
    keys: Vec<Bytes>,
    left: f64,
    width: f64,
}

impl KeyAxis {
    fn new(shape: &TreeShape, left: f64, width: f64) -> Self {
        let mut keys: Vec<Bytes> = shape
            .runs
            .iter()
            .flat_map(|r| &r.tables)
            .flat_map(|t| [t.range.min.clone(), t.range.max.clone()])
            .collect();
        keys.sort_unstable();
        keys.dedup();
        KeyAxis { keys, left, width }
    }

    fn slot(&self) -> f64 {
        self.width / self.keys.len().max(1) as f64
    }

    fn rank(&self, key: &[u8]) -> usize {
        self.keys
            .binary_search_by(|k| k.as_ref().cmp(key))
            .unwrap_or_else(|i| i)
    }

    /// The x span of the closed range `[min, max]`.
    fn span(&self, min: &[u8], max: &[u8]) -> (f64, f64) {
        let x0 = self.left + self.rank(min) as f64 * self.slot();
        let x1 = self.left + (self.rank(max) + 1) as f64 * self.slot();
        (x0, x1)
    }
}

/// Draws `shape` as an SVG document. `next` is the job the policy would
/// run next (outlined), if any.
///
/// ```
/// # use rillkv::compaction::{KeyRange, RunShape, TableShape, TreeShape};
/// # fn run(id: u64, tables: &[(u64, &str, &str, u64)]) -> RunShape {
/// #     let tables = tables.iter().map(|&(number, min, max, size)| TableShape {
/// #         number, range: KeyRange::new(min.to_owned(), max.to_owned()), size,
/// #     }).collect();
/// #     RunShape { id, tables }
/// # }
/// use rillkv::CompactionOptions;
/// use rillkv::compaction::{CompactionPolicy, TieredPolicy, svg};
/// let shape = TreeShape::new((1..=8).map(|id| run(id, &[(id, "a", "z", 100)])).collect());
/// let next = TieredPolicy.pick(&shape, &CompactionOptions::default());
/// let picture = svg::render(&shape, next.as_ref(), &svg::SvgOptions::default());
/// assert!(picture.contains("<svg"));
/// assert_eq!(picture.matches(r#"<rect class="table""#).count(), 8, "one bar per table");
/// assert_eq!(picture.matches(r#"<rect class="next""#).count(), 1);
/// ```
pub fn render(shape: &TreeShape, next: Option<&CompactionJob>, opts: &SvgOptions) -> String {
    let width = f64::from(opts.width.max(400));
    let (margin_left, margin_right) = (150.0, 20.0);
    let header = 34.0 + 18.0 * opts.subtitle.len() as f64 + 10.0;
    let runs = shape.runs.len();
    let row_h = if runs <= 16 {
        40.0
    } else {
        (640.0 / runs as f64).clamp(8.0, 40.0)
    };
    let plot_top = header;
    let plot_h = row_h * runs.max(1) as f64;
    let axis = KeyAxis::new(shape, margin_left, width - margin_left - margin_right);
    let groups = shape.overlap_groups();
    let group_of: HashMap<u64, usize> = groups
        .iter()
        .enumerate()
        .flat_map(|(gi, g)| {
            g.runs
                .iter()
                .flat_map(move |r| r.tables.iter().map(move |&t| (t, gi)))
        })
        .collect();
    let next_tables: Vec<u64> = next.map(|j| j.tables().collect()).unwrap_or_default();
    let max_size = shape
        .runs
        .iter()
        .flat_map(|r| &r.tables)
        .map(|t| t.size)
        .max()
        .unwrap_or(1)
        .max(1);
    let legend_rows = groups.len().min(10) + 4;
    let height = plot_top + plot_h + 40.0 + 18.0 * legend_rows as f64 + 10.0;

    let mut s = String::new();
    let _ = writeln!(s, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{w}" height="{h:.0}" viewBox="0 0 {w} {h:.0}" font-family="sans-serif" font-size="12">"#,
        w = width,
        h = height
    );
    let _ = writeln!(
        s,
        r##"<rect class="background" x="0" y="0" width="{width}" height="{height:.0}" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        s,
        r#"<text x="10" y="22" font-size="16" font-weight="bold">{}</text>"#,
        esc(&opts.title)
    );
    for (i, line) in opts.subtitle.iter().enumerate() {
        let _ = writeln!(
            s,
            r##"<text x="10" y="{:.0}" fill="#444444">{}</text>"##,
            40.0 + 18.0 * i as f64,
            esc(line)
        );
    }
    if runs == 0 {
        let _ = writeln!(
            s,
            r##"<text x="{:.0}" y="{:.0}" fill="#888888">empty tree: no tables</text>"##,
            margin_left,
            plot_top + row_h / 2.0
        );
    }

    // Rows: one per run, newest on top.
    for (ri, run) in shape.runs.iter().enumerate() {
        let y = plot_top + ri as f64 * row_h;
        let fill = if ri % 2 == 0 { "#f6f6f6" } else { "#ececec" };
        let _ = writeln!(
            s,
            r#"<rect class="row" x="{margin_left}" y="{y:.1}" width="{:.1}" height="{row_h:.1}" fill="{fill}"/>"#,
            axis.width
        );
        let bytes: u64 = run.tables.iter().map(|t| t.size).sum();
        if row_h >= 10.0 {
            let _ = writeln!(
                s,
                r#"<text x="{:.0}" y="{:.1}" text-anchor="end" font-size="{:.0}">run {} · {}</text>"#,
                margin_left - 6.0,
                y + row_h / 2.0 + 4.0,
                (row_h * 0.7).min(12.0),
                run.id,
                esc(&human_bytes(bytes))
            );
        }
        for t in &run.tables {
            let (x0, x1) = axis.span(&t.range.min, &t.range.max);
            // 1 px gaps so that touching tables stay apart.
            let w = (x1 - x0 - 1.0).max(1.0);
            let inner = row_h - 4.0;
            // Log scale: sizes span orders of magnitude (a flush of a few
            // keys next to a compacted run); the label gives the bytes.
            let frac = (1.0 + t.size as f64).ln() / (1.0 + max_size as f64).ln();
            let h = (inner * frac).max(2.0_f64.min(inner));
            let ty = y + row_h - 2.0 - h;
            let gi = group_of.get(&t.number).copied().unwrap_or(0);
            let color = PALETTE
                .get(gi % PALETTE.len())
                .copied()
                .unwrap_or("#888888");
            let picked = next_tables.contains(&t.number);
            let stroke = if picked {
                r##" stroke="#000000" stroke-width="1.5""##
            } else {
                ""
            };
            let _ = writeln!(
                s,
                r#"<rect class="table" x="{:.1}" y="{ty:.1}" width="{w:.1}" height="{h:.1}" fill="{color}"{stroke}><title>table {} · run {} · {} · group {} · {} .. {}</title></rect>"#,
                x0 + 0.5,
                t.number,
                run.id,
                esc(&human_bytes(t.size)),
                gi + 1,
                esc(&(opts.key_label)(&t.range.min)),
                esc(&(opts.key_label)(&t.range.max))
            );
            let label = format!("#{} {}", t.number, human_bytes(t.size));
            if row_h >= 18.0 && w >= 6.5 * label.len() as f64 + 4.0 {
                let _ = writeln!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="#111111">{}</text>"##,
                    x0 + 3.0,
                    y + 13.0,
                    esc(&label)
                );
            }
        }
    }

    // The next job: outline its key range across its input runs' rows.
    if let Some(job) = next {
        let rows: Vec<usize> = job
            .inputs
            .iter()
            .filter_map(|i| shape.runs.iter().position(|r| r.id == i.id))
            .collect();
        if let (Some(&top), Some(&bottom)) = (rows.iter().min(), rows.iter().max()) {
            let (x0, x1) = axis.span(&job.range.min, &job.range.max);
            let y0 = plot_top + top as f64 * row_h + 1.0;
            let y1 = plot_top + (bottom + 1) as f64 * row_h - 1.0;
            let _ = writeln!(
                s,
                r##"<rect class="next" x="{:.1}" y="{y0:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="#d62728" stroke-width="2.5" stroke-dasharray="6 3"/>"##,
                x0 - 1.0,
                (x1 - x0 + 1.0).max(3.0),
                (y1 - y0).max(3.0)
            );
        }
    }

    // Key axis: labels at a few ranks.
    let axis_y = plot_top + plot_h + 14.0;
    let n = axis.keys.len();
    if n > 0 {
        let ticks = n.min(6);
        let mut last_x = f64::NEG_INFINITY;
        for i in 0..ticks {
            let rank = if ticks == 1 {
                0
            } else {
                i * (n - 1) / (ticks - 1)
            };
            let Some(key) = axis.keys.get(rank) else {
                continue;
            };
            let x = axis.left + (rank as f64 + 0.5) * axis.slot();
            if x - last_x < 120.0 && i + 1 != ticks {
                continue;
            }
            last_x = x;
            let anchor = if i == 0 {
                "start"
            } else if i + 1 == ticks {
                "end"
            } else {
                "middle"
            };
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#999999"/>"##,
                plot_top + plot_h,
                plot_top + plot_h + 4.0
            );
            let _ = writeln!(
                s,
                r##"<text x="{x:.1}" y="{:.1}" text-anchor="{anchor}" font-size="11" fill="#444444">{}</text>"##,
                axis_y,
                esc(&(opts.key_label)(key))
            );
        }
    }

    // Legend.
    let mut y = axis_y + 26.0;
    let _ = writeln!(
        s,
        r#"<text x="10" y="{y:.1}" font-weight="bold">Legend</text>"#
    );
    y += 18.0;
    let _ = writeln!(
        s,
        r##"<text x="10" y="{y:.1}" fill="#444444">rows: sorted runs, newest on top · x: table boundary keys by rank (equal slots, key order) · bar height: table bytes, log scale (largest {})</text>"##,
        esc(&human_bytes(max_size))
    );
    y += 18.0;
    let next_text = match next {
        Some(j) => format!(
            "next compaction ({}): {} runs, {} tables, {}, keys {} .. {}{}",
            j.reason,
            j.inputs.len(),
            j.tables().count(),
            human_bytes(j.bytes()),
            (opts.key_label)(&j.range.min),
            (opts.key_label)(&j.range.max),
            if j.bottom { ", bottom" } else { "" }
        ),
        None => "next compaction: none (the policy picks nothing)".to_owned(),
    };
    let _ = writeln!(
        s,
        r##"<rect class="legend" x="10" y="{:.1}" width="22" height="12" fill="none" stroke="#d62728" stroke-width="2.5" stroke-dasharray="6 3"/>"##,
        y - 10.0
    );
    let _ = writeln!(s, r#"<text x="40" y="{y:.1}">{}</text>"#, esc(&next_text));
    for (gi, g) in groups.iter().enumerate().take(10) {
        y += 18.0;
        let color = PALETTE
            .get(gi % PALETTE.len())
            .copied()
            .unwrap_or("#888888");
        let _ = writeln!(
            s,
            r#"<rect class="legend" x="10" y="{:.1}" width="22" height="12" fill="{color}"/>"#,
            y - 10.0
        );
        let _ = writeln!(
            s,
            r#"<text x="40" y="{y:.1}">group {}: {} tables in {} runs, {}, depth {}, overlap ratio {:.2}, keys {} .. {}</text>"#,
            gi + 1,
            g.tables(),
            g.runs.len(),
            esc(&human_bytes(g.bytes())),
            g.depth(),
            g.overlap_ratio(),
            esc(&(opts.key_label)(&g.range.min)),
            esc(&(opts.key_label)(&g.range.max))
        );
    }
    if groups.len() > 10 {
        y += 18.0;
        let _ = writeln!(
            s,
            r##"<text x="40" y="{y:.1}" fill="#444444">… and {} more groups (colours repeat)</text>"##,
            groups.len() - 10
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compaction::{KeyRange, RunShape, TableShape};

    fn t(number: u64, a: &str, b: &str, size: u64) -> TableShape {
        TableShape {
            number,
            range: KeyRange::new(a.as_bytes().to_vec(), b.as_bytes().to_vec()),
            size,
        }
    }

    #[test]
    fn one_table_rect_per_table_and_escaped_text() {
        let shape = TreeShape::new(vec![
            RunShape {
                id: 2,
                tables: vec![t(5, "a<", "m&", 100), t(6, "n", "z", 50)],
            },
            RunShape {
                id: 1,
                tables: vec![t(3, "c", "k", 200)],
            },
        ]);
        let svg = render(&shape, None, &SvgOptions::default());
        assert_eq!(svg.matches(r#"<rect class="table""#).count(), 3);
        assert!(svg.contains("a&lt;"));
        assert!(!svg.contains("a<"));
        assert!(svg.ends_with("</svg>\n"));
    }

    #[test]
    fn rank_mapping_keeps_overlap() {
        let shape = TreeShape::new(vec![RunShape {
            id: 1,
            tables: vec![t(1, "a", "c", 1), t(2, "d", "f", 1)],
        }]);
        let axis = KeyAxis::new(&shape, 0.0, 400.0);
        let (_, a1) = axis.span(b"a", b"c");
        let (b0, _) = axis.span(b"d", b"f");
        assert!(a1 <= b0, "disjoint ranges stay apart");
        let (c0, c1) = axis.span(b"c", b"c");
        assert!(c1 > c0, "a single-key range has width");
    }

    #[test]
    fn empty_tree_renders() {
        let svg = render(&TreeShape::default(), None, &SvgOptions::default());
        assert!(svg.contains("empty tree"));
        assert_eq!(svg.matches(r#"class="table""#).count(), 0);
    }
}
