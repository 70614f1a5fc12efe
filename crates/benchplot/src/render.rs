//! Drawing one chart into a 1200x700 PNG.
//!
//! Layout, top to bottom: a bold title across the whole image; below it the plot on the left
//! and the legend in a column on the right, so the legend never covers data. Both kinds share
//! the frame ([`frame`]), the mesh style ([`configure_mesh`]) and the axis logic of
//! [`crate::axis`]; a log axis is drawn in log10 space with labels converted back.

use std::error::Error as StdError;
use std::path::{Path, PathBuf};

use berth_errdefs::{HasKind, Kind};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::axis::{format_number, Axis, Padding};
use crate::font::FAMILY;
use crate::palette::{Palette, Rgb};
use crate::spec::{Chart, Distribution, Xy};
use crate::stats::BoxStats;

/// Width of every chart, pixels.
pub const WIDTH: u32 = 1200;
/// Height of every chart, pixels.
pub const HEIGHT: u32 = 700;

const TITLE_HEIGHT: u32 = 56;
const TITLE_SIZE: f64 = 26.0;
const LABEL_SIZE: f64 = 17.0;
const DESC_SIZE: f64 = 19.0;
const LEGEND_SIZE: f64 = 18.0;
const NOTE_SIZE: f64 = 14.0;
const VALUE_SIZE: f64 = 14.0;
const PLOT_TOP: u32 = 8;
const MARGIN_LEFT: u32 = 12;
const MARGIN_RIGHT: u32 = 24;
const TEXT: RGBColor = RGBColor(0x22, 0x22, 0x22);
const MUTED: RGBColor = RGBColor(0x66, 0x66, 0x66);
const GRID: RGBColor = RGBColor(0xdc, 0xdc, 0xdc);
const GRID_MINOR: RGBColor = RGBColor(0xf0, 0xf0, 0xf0);
const LIMIT: RGBColor = RGBColor(0x44, 0x44, 0x44);

/// Why a chart could not be drawn or written.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The output file cannot be created.
    #[error("cannot write {}: {source}", path.display())]
    Create {
        /// The output file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// plotters failed while drawing or encoding.
    #[error("cannot draw {}: {source}", path.display())]
    Draw {
        /// The output file.
        path: PathBuf,
        /// What plotters said.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl HasKind for RenderError {
    fn kind(&self) -> Kind {
        Kind::Internal
    }
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
type Coord = Cartesian2d<Ticked, Ticked>;

/// A linear `f64` coordinate whose ticks are given (by [`Axis`]) instead of computed by
/// plotters: major ticks get labels and grid lines, minor ones fainter grid lines.
struct Ticked {
    inner: RangedCoordf64,
    major: Vec<f64>,
    minor: Vec<f64>,
}

impl Ticked {
    fn new(lo: f64, hi: f64, major: Vec<f64>, minor: Vec<f64>) -> Ticked {
        Ticked {
            inner: (lo..hi).into(),
            major,
            minor,
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.minor.clone()
        } else {
            self.major.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

/// Draws `chart` into the PNG file `path`.
pub(crate) fn render(chart: &Chart, palette: &Palette, path: &Path) -> Result<(), RenderError> {
    // Create the file first: plotters only writes it at the end and reports IO errors poorly.
    std::fs::File::create(path).map_err(|source| RenderError::Create {
        path: path.to_path_buf(),
        source,
    })?;
    let draw_err = |e: Box<dyn StdError + Send + Sync>| RenderError::Draw {
        path: path.to_path_buf(),
        source: e,
    };
    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    match chart {
        Chart::Distribution(d) => distribution(&root, d, palette).map_err(draw_err)?,
        Chart::Xy(x) => xy(&root, x, palette).map_err(draw_err)?,
    }
    root.present().map_err(|e| draw_err(Box::new(e)))?;
    Ok(())
}

type DrawResult<T> = Result<T, Box<dyn StdError + Send + Sync>>;

fn rgb((r, g, b): Rgb) -> RGBColor {
    RGBColor(r, g, b)
}

/// `c` mixed with black: `amount` 0 is `c`, 1 is black.
fn shade(c: RGBColor, amount: f64) -> RGBColor {
    let mix = |v: u8| (f64::from(v) * (1.0 - amount)).round() as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

/// `c` mixed with white: `amount` 0 is `c`, 1 is white. Opaque, so overlaps stay clean.
fn tint(c: RGBColor, amount: f64) -> RGBColor {
    let mix = |v: u8| (f64::from(v) + (255.0 - f64::from(v)) * amount).round() as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

fn font(size: f64) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&TEXT)
}

/// How a legend entry's swatch looks.
#[derive(Clone, Copy)]
enum Swatch {
    /// A filled box, as drawn in distribution charts.
    Box,
    /// A short line with a marker, as drawn in xy charts.
    Line,
}

/// Fills the background, draws the title and splits off the legend column on the right,
/// sized to fit the longest of `legend_texts`. Returns `(plot, legend)`.
fn frame<'a>(
    root: &Area<'a>,
    title: &str,
    legend_texts: &[String],
) -> DrawResult<(Area<'a>, Area<'a>)> {
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(TITLE_HEIGHT);
    let title_style = (FAMILY, TITLE_SIZE, FontStyle::Bold)
        .into_font()
        .color(&TEXT)
        .pos(Pos::new(HPos::Center, VPos::Center));
    top.draw_text(
        title,
        &title_style,
        ((WIDTH / 2) as i32, (TITLE_HEIGHT / 2 + 4) as i32),
    )?;
    let mut widest = 0u32;
    for t in legend_texts {
        widest = widest.max(root.estimate_text_size(t, &font(LEGEND_SIZE))?.0);
    }
    // left margin 6 + swatch 28 + gap 10 + text + right margin 30
    let legend_width = (widest + 74).clamp(150, 380);
    let (plot, legend) = body.split_horizontally(WIDTH - legend_width);
    Ok((plot, legend))
}

/// Draws the legend entries from the top of the legend column, then `notes` in small grey
/// text below them.
fn legend(
    area: &Area<'_>,
    entries: &[(String, RGBColor)],
    swatch: Swatch,
    notes: &[&str],
) -> DrawResult<()> {
    let x = 6;
    let mut y = (PLOT_TOP + 6) as i32;
    let text_style = font(LEGEND_SIZE).pos(Pos::new(HPos::Left, VPos::Center));
    for (name, colour) in entries {
        let mid = y + 11;
        match swatch {
            Swatch::Box => {
                area.draw(&Rectangle::new(
                    [(x, y + 2), (x + 26, y + 20)],
                    tint(*colour, 0.6).filled(),
                ))?;
                area.draw(&Rectangle::new(
                    [(x, y + 2), (x + 26, y + 20)],
                    colour.stroke_width(2),
                ))?;
            }
            Swatch::Line => {
                area.draw(&PathElement::new(
                    vec![(x, mid), (x + 28, mid)],
                    colour.stroke_width(3),
                ))?;
                area.draw(&Circle::new((x + 14, mid), 5, colour.filled()))?;
            }
        }
        area.draw_text(name, &text_style, (x + 38, mid))?;
        y += 30;
    }
    y += 14;
    let note_style = (FAMILY, NOTE_SIZE)
        .into_font()
        .color(&MUTED)
        .pos(Pos::new(HPos::Left, VPos::Top));
    for note in notes {
        area.draw_text(note, &note_style, (x, y))?;
        y += 20;
    }
    Ok(())
}

/// Builds the cartesian chart on `plot` with the given axes (plot-space ranges and ticks).
fn build<'a, 'b>(
    plot: &'b Area<'a>,
    x: (f64, f64, Vec<f64>, Vec<f64>),
    y: &Axis,
    x_label_area: u32,
) -> DrawResult<ChartContext<'b, BitMapBackend<'a>, Coord>> {
    let (x_lo, x_hi, x_major, x_minor) = x;
    let chart = ChartBuilder::on(plot)
        .margin_top(PLOT_TOP)
        .margin_left(MARGIN_LEFT)
        .margin_right(MARGIN_RIGHT)
        .margin_bottom(12)
        .x_label_area_size(x_label_area)
        .y_label_area_size(y_label_area(plot, y)?)
        .build_cartesian_2d(
            Ticked::new(x_lo, x_hi, x_major, x_minor),
            Ticked::new(y.lo, y.hi, y.major.clone(), y.minor.clone()),
        )?;
    Ok(chart)
}

/// Width of the y label area: the widest tick label, the tick marks and the rotated axis
/// description.
fn y_label_area(plot: &Area<'_>, y: &Axis) -> DrawResult<u32> {
    let mut widest = 0;
    for t in &y.major {
        widest = widest.max(text_width(plot, &y.label(*t), LABEL_SIZE)?);
    }
    Ok(widest + 48)
}

fn text_width(area: &Area<'_>, text: &str, size: f64) -> DrawResult<u32> {
    Ok(area.estimate_text_size(text, &font(size))?.0)
}

/// The shared look of the axes and grid.
fn configure_mesh<'a, 'b>(
    chart: &mut ChartContext<'b, BitMapBackend<'a>, Coord>,
    x_desc: Option<&str>,
    y_desc: &str,
    x_format: &dyn Fn(&f64) -> String,
    y_format: &dyn Fn(&f64) -> String,
    x_grid: bool,
) -> DrawResult<()> {
    let mut mesh = chart.configure_mesh();
    mesh.bold_line_style(GRID.stroke_width(1))
        .light_line_style(GRID_MINOR.stroke_width(1))
        .axis_style(MUTED.stroke_width(1))
        .label_style(font(LABEL_SIZE))
        .axis_desc_style(font(DESC_SIZE))
        .x_label_formatter(x_format)
        .y_label_formatter(y_format)
        .y_desc(y_desc);
    if let Some(d) = x_desc {
        mesh.x_desc(d);
    }
    if !x_grid {
        mesh.disable_x_mesh();
    }
    mesh.draw()?;
    Ok(())
}

/// Grouped box plots.
fn distribution(root: &Area<'_>, d: &Distribution, palette: &Palette) -> DrawResult<()> {
    let groups: Vec<Vec<(&str, BoxStats)>> = d
        .groups
        .iter()
        .map(|g| {
            g.series
                .iter()
                .filter_map(|s| Some((s.name.as_str(), BoxStats::from_samples(&s.samples)?)))
                .collect()
        })
        .collect();
    let all = groups.iter().flatten().map(|(_, s)| s);
    let min = all.clone().map(|s| s.min).fold(f64::INFINITY, f64::min);
    let max = all.map(|s| s.max).fold(f64::NEG_INFINITY, f64::max);
    // Room above for the median labels.
    let pad = Padding {
        below: 0.06,
        above: 0.14,
    };
    let y = if d.log {
        Axis::log(min, max, pad)
    } else {
        Axis::linear(min, max, true, pad)
    };

    let names: Vec<String> = d.series_names().into_iter().map(String::from).collect();
    let notes = [
        "box: 25th-75th percentile",
        "line and label: median",
        "whiskers: 5th-95th",
        "dots: beyond the whiskers",
    ];
    let mut legend_texts = names.clone();
    legend_texts.extend(notes.iter().map(|n| n.to_string()));
    let (plot, legend_area) = frame(root, &d.title, &legend_texts)?;

    let n = groups.len();
    // Label every group, or every k-th one when the labels would run into each other.
    let labels: Vec<&str> = d.groups.iter().map(|g| g.label.as_str()).collect();
    let plot_px = f64::from(plot.dim_in_pixel().0) - f64::from(y_label_area(&plot, &y)?);
    let group_px = ((plot_px - f64::from(MARGIN_LEFT + MARGIN_RIGHT)) / n as f64).max(1.0);
    let mut widths = Vec::with_capacity(n);
    for l in &labels {
        widths.push(f64::from(text_width(&plot, l, LABEL_SIZE)?));
    }
    let stride = label_stride(&widths, group_px, 12.0);
    let centres: Vec<f64> = (0..n).step_by(stride).map(|i| i as f64 + 0.5).collect();
    let mut chart = build(&plot, (0.0, n as f64, centres, Vec::new()), &y, 44)?;
    let x_format = |v: &f64| {
        labels
            .get(v.floor().max(0.0) as usize)
            .map(|s| s.to_string())
            .unwrap_or_default()
    };
    let y_format = |t: &f64| y.label(*t);
    configure_mesh(&mut chart, None, &d.unit, &x_format, &y_format, false)?;

    // Box width: 70% of a series' slot in its cluster, at most 90 pixels.
    let max_box = 90.0 / group_px;
    let value_style = (FAMILY, VALUE_SIZE)
        .into_font()
        .color(&TEXT)
        .pos(Pos::new(HPos::Center, VPos::Bottom));
    let mut placed: Vec<(i32, i32, i32, i32)> = Vec::new();
    for (i, series) in groups.iter().enumerate() {
        let slot = 0.8 / series.len() as f64;
        let half = (slot * 0.7).min(max_box) / 2.0;
        for (j, (name, s)) in series.iter().enumerate() {
            let colour = rgb(palette.colour(name));
            let xc = i as f64 + 0.1 + slot * (j as f64 + 0.5);
            let (x0, x1) = (xc - half, xc + half);
            let at = |v: f64| y.to_plot(v);
            let stroke = colour.stroke_width(2);
            // Whiskers with caps half as wide as the box.
            for (from, to) in [(s.p5, s.q1), (s.q3, s.p95)] {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(xc, at(from)), (xc, at(to))],
                    stroke,
                )))?;
                let cap = vec![(xc - half / 2.0, at(to)), (xc + half / 2.0, at(to))];
                chart.draw_series(std::iter::once(PathElement::new(cap, stroke)))?;
            }
            let body = [(x0, at(s.q1)), (x1, at(s.q3))];
            chart.draw_series(std::iter::once(Rectangle::new(
                body,
                tint(colour, 0.6).filled(),
            )))?;
            chart.draw_series(std::iter::once(Rectangle::new(body, stroke)))?;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(x0, at(s.median)), (x1, at(s.median))],
                shade(colour, 0.45).stroke_width(3),
            )))?;
            chart.draw_series(
                s.outliers
                    .iter()
                    .map(|v| Circle::new((xc, at(*v)), 3, colour.stroke_width(2))),
            )?;
            // The median above the highest mark, unless it would cover another median.
            let median = format_number(s.median, 3);
            let (px, py) = chart.backend_coord(&(xc, at(s.max)));
            let w = text_width(&plot, &median, VALUE_SIZE)? as i32;
            let rect = (
                px - w / 2 - 2,
                py - 8 - VALUE_SIZE as i32,
                px + w / 2 + 2,
                py - 4,
            );
            let overlaps = |r: &(i32, i32, i32, i32)| {
                rect.0 < r.2 && r.0 < rect.2 && rect.1 < r.3 && r.1 < rect.3
            };
            if !placed.iter().any(overlaps) {
                placed.push(rect);
                chart.draw_series(std::iter::once(
                    EmptyElement::at((xc, at(s.max)))
                        + Text::new(median, (0, -6), value_style.clone()),
                ))?;
            }
        }
    }
    let entries: Vec<(String, RGBColor)> = names
        .iter()
        .map(|n| (n.clone(), rgb(palette.colour(n))))
        .collect();
    legend(&legend_area, &entries, Swatch::Box, &notes)?;
    Ok(())
}

/// Label every `stride`-th of `n` evenly spaced cluster labels, the smallest stride for which
/// neighbouring labels (given their pixel `widths`) keep `gap` pixels apart when clusters are
/// `spacing` pixels apart.
fn label_stride(widths: &[f64], spacing: f64, gap: f64) -> usize {
    (1..widths.len().max(1))
        .find(|k| {
            let shown: Vec<f64> = widths.iter().copied().step_by(*k).collect();
            shown
                .windows(2)
                .all(|w| (w[0] + w[1]) / 2.0 + gap <= spacing * *k as f64)
        })
        .unwrap_or(widths.len().max(1))
}

/// Lines with markers, and dashed limits.
fn xy(root: &Area<'_>, c: &Xy, palette: &Palette) -> DrawResult<()> {
    let points = c.series.iter().flat_map(|s| s.points.iter());
    let (mut x_min, mut x_max) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut y_min, mut y_max) = (f64::INFINITY, f64::NEG_INFINITY);
    for [px, py] in points {
        (x_min, x_max) = (x_min.min(*px), x_max.max(*px));
        (y_min, y_max) = (y_min.min(*py), y_max.max(*py));
    }
    for l in &c.limits {
        (y_min, y_max) = (y_min.min(l.y), y_max.max(l.y));
    }
    let x_pad = Padding {
        below: 0.04,
        above: 0.04,
    };
    let x = if c.log_x {
        Axis::log(x_min, x_max, x_pad)
    } else {
        Axis::linear(x_min, x_max, false, x_pad)
    };
    let y_pad = Padding {
        below: 0.06,
        above: 0.1,
    };
    let y = if c.log_y {
        Axis::log(y_min, y_max, y_pad)
    } else {
        Axis::linear(y_min, y_max, true, y_pad)
    };

    let names: Vec<String> = c.series.iter().map(|s| s.name.clone()).collect();
    let (plot, legend_area) = frame(root, &c.title, &names)?;
    let mut chart = build(
        &plot,
        (x.lo, x.hi, x.major.clone(), x.minor.clone()),
        &y,
        64,
    )?;
    let x_format = |t: &f64| x.label(*t);
    let y_format = |t: &f64| y.label(*t);
    configure_mesh(
        &mut chart,
        Some(&c.x_label),
        &c.y_label,
        &x_format,
        &y_format,
        true,
    )?;

    // Limits first, so the data is drawn over them.
    let limit_style = (FAMILY, NOTE_SIZE + 1.0)
        .into_font()
        .color(&LIMIT)
        .pos(Pos::new(HPos::Left, VPos::Bottom));
    for l in &c.limits {
        let ly = y.to_plot(l.y);
        chart.draw_series(DashedLineSeries::new(
            vec![(x.lo, ly), (x.hi, ly)],
            10,
            6,
            LIMIT.stroke_width(2),
        ))?;
        let (w, h) = plot.estimate_text_size(&l.label, &limit_style)?;
        let (w, h) = (w as i32, h as i32);
        chart.draw_series(std::iter::once(
            EmptyElement::at((x.lo, ly))
                + Rectangle::new([(6, -h - 8), (w + 14, -3)], WHITE.filled())
                + Text::new(l.label.clone(), (10, -5), limit_style.clone()),
        ))?;
    }
    for s in &c.series {
        let colour = rgb(palette.colour(&s.name));
        let mut pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .map(|[px, py]| (x.to_plot(*px), y.to_plot(*py)))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart.draw_series(LineSeries::new(pts.clone(), colour.stroke_width(3)))?;
        chart.draw_series(pts.iter().map(|p| Circle::new(*p, 5, colour.filled())))?;
        chart.draw_series(
            pts.iter()
                .map(|p| Circle::new(*p, 5, WHITE.stroke_width(1))),
        )?;
    }
    let entries: Vec<(String, RGBColor)> = names
        .iter()
        .map(|n| (n.clone(), rgb(palette.colour(n))))
        .collect();
    legend(&legend_area, &entries, Swatch::Line, &[])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_label_stride() {
        // (label widths, spacing between cluster centres) -> every k-th label shown
        let table: &[(&[f64], f64, usize)] = &[
            (&[], 100.0, 1),
            (&[80.0], 10.0, 1),
            (&[50.0, 60.0, 70.0], 100.0, 1),
            (&[50.0, 80.0, 70.0], 100.0, 1),
            (&[50.0, 140.0, 70.0], 100.0, 2),
            (&[50.0, 140.0, 130.0], 100.0, 2),
            (&[60.0; 40], 20.0, 4),
            (&[60.0; 40], 2.0, 36),
        ];
        for (widths, spacing, want) in table {
            assert_eq!(
                label_stride(widths, *spacing, 12.0),
                *want,
                "{widths:?} at {spacing}"
            );
        }
    }
}
