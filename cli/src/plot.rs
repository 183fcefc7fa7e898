//! SVG plots of ESS profiles (plotters, SVG backend only).
//!
//! Hankel indices are integers, so the x axis is an integer axis (its ticks are
//! whole indices). Series differ in colour and also in dash pattern and marker, so
//! that lines lying on top of each other (families with the same profile) and
//! grey-scale prints can still be told apart; the legend shows all three.

use crate::error::CliError;
use plotters::element::{DashedPathElement, DynElement, IntoDynElement};
use plotters::prelude::*;
use std::path::Path;

/// One line (or band) on a panel.
pub struct Series {
    pub label: String,
    /// Hankel indices `i`.
    pub x: Vec<usize>,
    pub y: Vec<f64>,
    /// Optional min–max band around `y`.
    pub band: Option<(Vec<f64>, Vec<f64>)>,
}

/// One panel: a title, a y label, its series and an optional horizontal TSS line.
pub struct Panel {
    pub title: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub tss: Option<f64>,
    /// The x axis label; `None`: the Hankel index.
    pub x_label: Option<String>,
    /// Marker (delimiter) positions `t`, drawn as vertical lines at `x = t`.
    pub markers: Vec<usize>,
    /// Lines of text for the legend column (the first panel's are shown).
    pub notes: Vec<String>,
}

impl Panel {
    /// A panel of ESS profiles over the Hankel index, without markers.
    pub fn profiles(title: String, y_label: String, series: Vec<Series>, tss: Option<f64>) -> Self {
        Panel { title, y_label, series, tss, x_label: None, markers: Vec::new(), notes: Vec::new() }
    }
}

/// A tolerance sweep panel: mean and max tolerance-ESS against the threshold τ,
/// on a logarithmic τ axis (one panel per tolerance mode).
pub struct SweepPanel {
    pub title: String,
    /// `"relative τ"` or `"absolute τ"`.
    pub x_label: String,
    /// The thresholds, any order.
    pub tau: Vec<f64>,
    pub mean: Vec<f64>,
    pub max: Vec<f64>,
}

const MARKER_COLOR: RGBColor = RGBColor(120, 120, 120);

const COLORS: [RGBColor; 14] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 128),
    RGBColor(128, 0, 0),
    RGBColor(0, 128, 128),
    RGBColor(255, 190, 0),
];

const LEGEND_WIDTH: u32 = 300;

/// Markers drawn on at most this many points of a series (all points when fewer).
const MARKERS_PER_SERIES: usize = 12;

/// How a line is stroked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dash {
    Solid,
    /// Long dashes.
    Dashed,
    /// Short dashes with equal gaps.
    Dotted,
}

/// The marker on a series' points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Circle,
    Triangle,
    Cross,
    Dot,
    OpenTriangle,
}

const DASHES: [Dash; 3] = [Dash::Solid, Dash::Dashed, Dash::Dotted];
const MARKERS: [Marker; 5] = [Marker::Circle, Marker::Triangle, Marker::Cross, Marker::Dot, Marker::OpenTriangle];

/// The look of series `k`. Dashes cycle every 3 series and markers every 5, so no
/// two of the first 15 series share both; colours cycle every 14.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Look {
    color: RGBColor,
    dash: Dash,
    marker: Marker,
}

fn look(k: usize) -> Look {
    Look { color: COLORS[k % COLORS.len()], dash: DASHES[k % DASHES.len()], marker: MARKERS[k % MARKERS.len()] }
}

fn marker<'a, DB: DrawingBackend, C: Clone + 'static>(m: Marker, at: C, color: RGBColor) -> DynElement<'a, DB, C> {
    let (line, fill) = (color.stroke_width(2), color.filled());
    match m {
        Marker::Circle => Circle::new(at, 4, line).into_dyn(),
        Marker::Dot => Circle::new(at, 4, fill).into_dyn(),
        Marker::Triangle => TriangleMarker::new(at, 5, fill).into_dyn(),
        Marker::OpenTriangle => TriangleMarker::new(at, 5, line).into_dyn(),
        Marker::Cross => Cross::new(at, 4, line).into_dyn(),
    }
}

/// Positions of the markers among `n` points: every point when there are few,
/// otherwise about [`MARKERS_PER_SERIES`] points, shifted by the series number so
/// that markers of overlapping series do not hide each other.
fn marker_positions(n: usize, k: usize) -> impl Iterator<Item = usize> {
    let step = n.div_ceil(MARKERS_PER_SERIES).max(1);
    (k % step..n).step_by(step)
}

/// Draws a polyline with the given dash pattern on any drawing target.
macro_rules! draw_line {
    ($target:expr, $points:expr, $dash:expr, $style:expr) => {
        match $dash {
            Dash::Solid => $target.draw(&PathElement::new($points, $style)),
            Dash::Dashed => $target.draw(&DashedPathElement::new($points, 9, 5, $style)),
            Dash::Dotted => $target.draw(&DashedPathElement::new($points, 2, 4, $style)),
        }
    };
}

/// Draws the panels side by side into an SVG file, then the sweep panels (each
/// with its own legend), with one legend (the first panel's series, which all
/// profile panels share, the TSS line and the markers) in a column on the right.
pub fn draw(path: &Path, title: &str, panels: &[Panel], sweeps: &[SweepPanel]) -> Result<(), CliError> {
    let err = |e: &dyn std::fmt::Display| CliError::Plot { path: path.to_owned(), message: e.to_string() };
    let width = 560 * (panels.len() + sweeps.len()) as u32 + LEGEND_WIDTH;
    let root = SVGBackend::new(path, (width, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(|e| err(&e))?;
    let (charts, legend) = root.split_horizontally(width - LEGEND_WIDTH);
    let all_areas = charts.split_evenly((1, panels.len() + sweeps.len()));
    let (areas, sweep_areas) = all_areas.split_at(panels.len());
    for (sweep, area) in sweeps.iter().zip(sweep_areas) {
        draw_sweep(area, sweep).map_err(|e| err(&e))?;
    }
    for (panel, area) in panels.iter().zip(areas.iter()) {
        let x_max = panel.series.iter().flat_map(|s| s.x.iter().copied()).max().unwrap_or(1).max(1);
        let y_hi = panel
            .series
            .iter()
            .flat_map(|s| s.y.iter().chain(s.band.iter().flat_map(|b| b.1.iter())).copied())
            .chain(panel.tss)
            .fold(1.0f64, f64::max);
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0..x_max + 1, 0.0..y_hi * 1.1)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_labels(x_max.min(10) + 1)
            .x_desc(panel.x_label.as_deref().unwrap_or("index i (past u_0..u_{i-1} | future y_i..y_{L-1})"))
            .y_desc(panel.y_label.as_str())
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| err(&e))?;
        let plot = chart.plotting_area();
        for (k, s) in panel.series.iter().enumerate() {
            let Look { color, dash, marker: m } = look(k);
            if let Some((lo, hi)) = &s.band {
                let poly: Vec<(usize, f64)> =
                    s.x.iter()
                        .copied()
                        .zip(hi.iter().copied())
                        .chain(s.x.iter().rev().copied().zip(lo.iter().rev().copied()))
                        .collect();
                plot.draw(&Polygon::new(poly, color.mix(0.2).filled())).map_err(|e| err(&e))?;
            }
            let points: Vec<(usize, f64)> = s.x.iter().copied().zip(s.y.iter().copied()).collect();
            draw_line!(plot, points.clone(), dash, color.stroke_width(2)).map_err(|e| err(&e))?;
            for j in marker_positions(points.len(), k) {
                plot.draw(&marker(m, points[j], color)).map_err(|e| err(&e))?;
            }
        }
        if let Some(tss) = panel.tss {
            plot.draw(&PathElement::new(vec![(0, tss), (x_max + 1, tss)], BLACK.stroke_width(1)))
                .map_err(|e| err(&e))?;
        }
        for &t in &panel.markers {
            let line = vec![(t, 0.0), (t, y_hi * 1.1)];
            plot.draw(&DashedPathElement::new(line, 6, 4, MARKER_COLOR.stroke_width(1))).map_err(|e| err(&e))?;
        }
    }
    let n = panels.first().map_or(0, |p| p.series.len());
    for k in 0..n {
        let Look { color, dash, marker: m } = look(k);
        let y = 60 + 22 * k as i32;
        draw_line!(legend, vec![(8, y), (44, y)], dash, color.stroke_width(2)).map_err(|e| err(&e))?;
        legend.draw(&marker(m, (26, y), color)).map_err(|e| err(&e))?;
        let label = panels[0].series[k].label.clone();
        legend.draw(&Text::new(label, (52, y - 7), ("sans-serif", 14))).map_err(|e| err(&e))?;
    }
    let mut y = 60 + 22 * n as i32;
    if let Some(tss) = panels.iter().find_map(|p| p.tss) {
        legend.draw(&PathElement::new(vec![(8, y), (44, y)], BLACK.stroke_width(1))).map_err(|e| err(&e))?;
        legend.draw(&Text::new(format!("TSS = {tss}"), (52, y - 7), ("sans-serif", 14))).map_err(|e| err(&e))?;
        y += 22;
    }
    if let Some(p) = panels.iter().find(|p| !p.markers.is_empty()) {
        let marks: Vec<String> = p.markers.iter().map(|t| t.to_string()).collect();
        legend
            .draw(&DashedPathElement::new(vec![(26, y - 9), (26, y + 9)], 6, 4, MARKER_COLOR.stroke_width(1)))
            .map_err(|e| err(&e))?;
        let label = format!("markers t = {}", marks.join(", "));
        legend.draw(&Text::new(label, (52, y - 7), ("sans-serif", 14))).map_err(|e| err(&e))?;
        y += 22;
    }
    for note in panels.first().map(|p| p.notes.as_slice()).unwrap_or(&[]) {
        legend.draw(&Text::new(note.clone(), (8, y - 7), ("sans-serif", 14))).map_err(|e| err(&e))?;
        y += 20;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// One sweep panel: mean and max tolerance-ESS against τ on a log axis.
fn draw_sweep<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    sweep: &SweepPanel,
) -> Result<(), String> {
    let e = |x: &dyn std::fmt::Display| x.to_string();
    let mut order: Vec<usize> = (0..sweep.tau.len()).collect();
    order.sort_by(|&a, &b| sweep.tau[a].total_cmp(&sweep.tau[b]));
    let lo = sweep.tau.iter().copied().fold(f64::INFINITY, f64::min) / 2.0;
    let hi = sweep.tau.iter().copied().fold(0.0f64, f64::max) * 2.0;
    let y_hi = sweep.max.iter().copied().fold(1.0f64, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(&sweep.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d((lo..hi).log_scale(), 0.0..y_hi * 1.1)
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .x_desc(sweep.x_label.as_str())
        .y_desc("tolerance-ESS")
        .x_label_formatter(&|x| format!("{x:.0e}"))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(|x| e(&x))?;
    for (k, (label, ys)) in [("mean", &sweep.mean), ("max", &sweep.max)].into_iter().enumerate() {
        let Look { color, marker: m, .. } = look(k);
        let points: Vec<(f64, f64)> = order.iter().map(|&j| (sweep.tau[j], ys[j])).collect();
        chart
            .draw_series(std::iter::once(PathElement::new(points.clone(), color.stroke_width(2))))
            .map_err(|x| e(&x))?
            .label(format!("{label} over channels and indices"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(points.into_iter().map(|p| marker(m, p, color))).map_err(|x| e(&x))?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK.mix(0.3))
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(|x| e(&x))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_demo_family_has_its_own_dash_and_marker_pair() {
        let pairs: Vec<(Dash, Marker)> = (0..15).map(|k| (look(k).dash, look(k).marker)).collect();
        for (a, pa) in pairs.iter().enumerate() {
            assert!(pairs[a + 1..].iter().all(|pb| pb != pa), "series {a} shares its dash and marker");
        }
    }

    #[test]
    fn markers_are_spread_and_staggered() {
        assert_eq!(marker_positions(5, 3).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
        let a: Vec<usize> = marker_positions(127, 0).collect();
        let b: Vec<usize> = marker_positions(127, 1).collect();
        assert!(a.len() <= MARKERS_PER_SERIES + 1 && a.len() >= MARKERS_PER_SERIES - 1, "{a:?}");
        assert!(a.iter().all(|j| !b.contains(j)), "overlapping series put markers on different points");
    }

    #[test]
    fn x_ticks_are_whole_indices() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.svg");
        let series = |k: usize| Series {
            label: format!("s{k}"),
            x: (1..25).collect(),
            y: (1..25).map(|i| (i.min(25 - i) + k) as f64).collect(),
            band: None,
        };
        let panel = Panel::profiles("t".into(), "ESS_i".into(), vec![series(0), series(1)], None);
        draw(&path, "ticks", &[panel], &[]).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        // The x tick labels are the centred texts below the axis: whole numbers only.
        let x_ticks: Vec<&str> = svg
            .split("<text ")
            .skip(1)
            .filter(|t| t.contains("dy=\"0.76em\" text-anchor=\"middle\""))
            .filter_map(|t| t.split('>').nth(1)?.split('<').next().map(str::trim))
            .filter(|t| t.starts_with(|c: char| c.is_ascii_digit()))
            .collect();
        assert!(x_ticks.len() >= 5, "{x_ticks:?}");
        assert!(x_ticks.iter().all(|t| t.parse::<usize>().is_ok()), "{x_ticks:?}");
        // Series 1 is dashed: many short polylines.
        assert!(svg.matches("<polyline").count() > 20, "dashes drawn");
    }
}
