//! SVG plots of ESS profiles (plotters, SVG backend only).

use plotters::prelude::*;
use std::path::Path;

/// One line (or band) on a panel.
pub struct Series {
    pub label: String,
    pub x: Vec<f64>,
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
}

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

/// Draws the panels side by side into an SVG file, with one legend (the first
/// panel's series, which all panels share) in a column on the right.
pub fn draw(path: &Path, title: &str, panels: &[Panel]) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("cannot draw the plot {}: {e}", path.display());
    let width = 560 * panels.len() as u32 + LEGEND_WIDTH;
    let root = SVGBackend::new(path, (width, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(|e| err(&e))?;
    let (charts, legend) = root.split_horizontally(width - LEGEND_WIDTH);
    let areas = charts.split_evenly((1, panels.len()));
    for (panel, area) in panels.iter().zip(areas.iter()) {
        let all_x = panel.series.iter().flat_map(|s| s.x.iter().copied());
        let x_max = all_x.fold(1.0f64, f64::max);
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
            .build_cartesian_2d(0.0..x_max * 1.02, 0.0..y_hi * 1.1)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("index i (past u_0..u_{i-1} | future y_i..y_{L-1})")
            .y_desc(panel.y_label.as_str())
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| err(&e))?;
        for (k, s) in panel.series.iter().enumerate() {
            let color = COLORS[k % COLORS.len()];
            if let Some((lo, hi)) = &s.band {
                let poly: Vec<(f64, f64)> =
                    s.x.iter()
                        .copied()
                        .zip(hi.iter().copied())
                        .chain(s.x.iter().rev().copied().zip(lo.iter().rev().copied()))
                        .collect();
                chart.draw_series(std::iter::once(Polygon::new(poly, color.mix(0.2).filled()))).map_err(|e| err(&e))?;
            }
            chart
                .draw_series(LineSeries::new(s.x.iter().copied().zip(s.y.iter().copied()), color.stroke_width(2)))
                .map_err(|e| err(&e))?;
        }
        if let Some(tss) = panel.tss {
            chart
                .draw_series(LineSeries::new(vec![(0.0, tss), (x_max, tss)], BLACK.stroke_width(1)))
                .map_err(|e| err(&e))?;
        }
    }
    let mut entries: Vec<(String, RGBColor, u32)> = panels
        .first()
        .map(|p| p.series.iter().enumerate().map(|(k, s)| (s.label.clone(), COLORS[k % COLORS.len()], 3)).collect())
        .unwrap_or_default();
    if let Some(tss) = panels.iter().find_map(|p| p.tss) {
        entries.push((format!("TSS = {tss}"), BLACK, 1));
    }
    for (k, (label, color, w)) in entries.iter().enumerate() {
        let y = 60 + 22 * k as i32;
        legend.draw(&PathElement::new(vec![(10, y), (38, y)], color.stroke_width(*w))).map_err(|e| err(&e))?;
        legend.draw(&Text::new(label.clone(), (46, y - 7), ("sans-serif", 14))).map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
