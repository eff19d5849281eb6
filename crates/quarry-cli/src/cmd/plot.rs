//! Plots of benchmark results (JSON lines from `quarry bench` and the peer scripts),
//! one line per label: recall@k vs QPS, recall@k vs bytes and partitions per query, and recall@1 vs
//! vectors fetched per query (the NN-augmented paper's figure). PNG and SVG.
//!
//! Text is drawn with DejaVu Sans compiled into the binary (plotters' pure-Rust
//! `ab_glyph` renderer), so the binary links no fontconfig or freetype and needs
//! no fonts installed on the machine.

use anyhow::{bail, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// JSON-lines result files (several may be merged).
    #[arg(long, required = true, num_args = 1..)]
    pub input: Vec<PathBuf>,
    #[arg(long)]
    pub out_dir: PathBuf,
    /// Recall cut-off for the QPS and bytes plots (1, 10 or 100).
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Title prefix (e.g. the dataset name).
    #[arg(long, default_value = "")]
    pub title: String,
}

/// DejaVu Sans 2.37, unmodified (license: `assets/LICENSE-DejaVu.txt`).
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Makes the embedded font the one plotters draws every text with: the family
/// this module names (and plotters' own default) is "sans-serif"; the others are
/// registered too so that no label can fail for want of a font.
fn register_fonts() -> Result<()> {
    for family in ["sans-serif", "serif", "monospace"] {
        plotters::style::register_font(family, FontStyle::Normal, FONT)
            .map_err(|_| anyhow::anyhow!("the embedded plot font is not a valid TrueType font"))?;
    }
    Ok(())
}

/// One plot: which fields go on which axis.
struct Figure {
    file: &'static str,
    x: &'static str,
    x_label: &'static str,
    x_log: bool,
    y: String,
    y_label: String,
}

pub fn run(a: Args) -> Result<()> {
    let recall = match a.k {
        1 | 10 | 100 => format!("recall_at_{}", a.k),
        k => bail!("--k {k}: plots use recall@1, @10 or @100"),
    };
    let mut rows = Vec::new();
    for p in &a.input {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let v: serde_json::Value = serde_json::from_str(line)
                .with_context(|| format!("{}:{}: not a JSON object", p.display(), i + 1))?;
            rows.push(v);
        }
    }
    register_fonts()?;
    std::fs::create_dir_all(&a.out_dir)
        .with_context(|| format!("creating {}", a.out_dir.display()))?;
    let figures = [
        Figure {
            file: "recall_vs_qps",
            x: "qps",
            x_label: "queries per second (batch)",
            x_log: true,
            y: recall.clone(),
            y_label: format!("recall@{}", a.k),
        },
        Figure {
            file: "recall_vs_bytes",
            x: "bytes_per_query",
            x_label: "bytes read per query",
            x_log: true,
            y: recall.clone(),
            y_label: format!("recall@{}", a.k),
        },
        // Learned pruning vs fixed nprobe: partitions each query probes.
        Figure {
            file: "recall_vs_partitions",
            x: "partitions_per_query",
            x_label: "partitions probed per query",
            x_log: true,
            y: recall.clone(),
            y_label: format!("recall@{}", a.k),
        },
        Figure {
            file: "recall1_vs_vectors",
            x: "vectors_per_query",
            x_label: "vectors fetched per query",
            x_log: true,
            y: "recall_at_1".into(),
            y_label: "recall@1".into(),
        },
    ];
    let mut written = 0;
    for f in &figures {
        let series = collect(&rows, f.x, &f.y);
        if series.is_empty() {
            eprintln!("{}: no rows with both {} and {}; skipped", f.file, f.x, f.y);
            continue;
        }
        let title = if a.title.is_empty() {
            f.y_label.clone()
        } else {
            format!("{}: {} vs {}", a.title, f.y_label, f.x_label)
        };
        let png = a.out_dir.join(format!("{}.png", f.file));
        let svg = a.out_dir.join(format!("{}.svg", f.file));
        draw(
            BitMapBackend::new(&png, (960, 640)).into_drawing_area(),
            f,
            &series,
            &title,
        )
        .with_context(|| format!("drawing {}", png.display()))?;
        draw(
            SVGBackend::new(&svg, (960, 640)).into_drawing_area(),
            f,
            &series,
            &title,
        )
        .with_context(|| format!("drawing {}", svg.display()))?;
        written += 1;
    }
    if written == 0 {
        bail!("no plottable rows in the input files");
    }
    eprintln!(
        "wrote {written} plots (PNG + SVG) to {}",
        a.out_dir.display()
    );
    Ok(())
}

type Series = BTreeMap<String, Vec<(f64, f64)>>;

/// (x, y) points per label, sorted by x; rows missing either field are skipped.
fn collect(rows: &[serde_json::Value], x: &str, y: &str) -> Series {
    let mut s: Series = BTreeMap::new();
    for r in rows {
        let (Some(xv), Some(yv)) = (r[x].as_f64(), r[y].as_f64()) else {
            continue;
        };
        if xv <= 0.0 || !xv.is_finite() || !yv.is_finite() {
            continue;
        }
        let label = r["label"].as_str().unwrap_or("quarry").to_string();
        s.entry(label).or_default().push((xv, yv));
    }
    for pts in s.values_mut() {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    s
}

fn draw<DB: DrawingBackend>(
    area: DrawingArea<DB, Shift>,
    f: &Figure,
    series: &Series,
    title: &str,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow::anyhow!("plotting failed: {e:?}");
    area.fill(&WHITE).map_err(err)?;
    let pts = series.values().flatten();
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let y0 = (y0 - 0.02).max(0.0);
    let y1 = (y1 + 0.02).min(1.0).max(y0 + 0.05);
    let mut builder = ChartBuilder::on(&area);
    builder
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64);
    let palette = [
        RED,
        BLUE,
        GREEN,
        MAGENTA,
        CYAN,
        BLACK,
        full_palette::ORANGE,
        full_palette::BROWN,
        full_palette::PURPLE,
        full_palette::TEAL,
        full_palette::PINK,
        full_palette::GREY,
        full_palette::INDIGO,
        full_palette::LIME_900,
        full_palette::AMBER_900,
    ];
    macro_rules! plot_lines {
        ($chart:ident) => {
            $chart
                .configure_mesh()
                .x_desc(f.x_label)
                .y_desc(&f.y_label)
                .draw()
                .map_err(err)?;
            for (i, (label, pts)) in series.iter().enumerate() {
                let c = palette[i % palette.len()];
                $chart
                    .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
                    .map_err(err)?
                    .label(label.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                    });
                $chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))
                    .map_err(err)?;
            }
            $chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(err)?;
        };
    }
    if f.x_log {
        let mut chart = builder
            .build_cartesian_2d((x0 * 0.8..x1 * 1.25).log_scale(), y0..y1)
            .map_err(err)?;
        plot_lines!(chart);
    } else {
        let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1).map_err(err)?;
        plot_lines!(chart);
    }
    area.present().map_err(err)?;
    Ok(())
}
