//! Spectrum plots (PNG): flux with its ±1σ band, the redshift, and the main emission
//! and absorption lines labelled at their observed wavelengths. Text is drawn with
//! the bundled DejaVu Sans through ab_glyph, so no system fonts are needed.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::QueryError;

/// Lines marked on plots: label and vacuum rest wavelength (Å).
pub const PLOT_LINES: [(&str, f64); 11] = [
    ("[OII]", 3728.48),
    ("K", 3934.78),
    ("H", 3969.59),
    ("Hδ", 4102.89),
    ("Hγ", 4341.68),
    ("Hβ", 4862.68),
    ("[OIII]", 5008.24),
    ("Mg b", 5176.7),
    ("Na D", 5895.6),
    ("Hα", 6564.61),
    ("[SII]", 6725.48),
];

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, include_bytes!("../assets/DejaVuSans.ttf"));
    });
}

/// Inverse-variance-weighted means over consecutive blocks of `k` pixels: (mean
/// wavelength, mean flux, its 1σ), blocks without a good pixel left out.
fn smooth_binned(wave: &[f64], flux: &[f32], ivar: &[f32], k: usize) -> Vec<(f64, f64, f64)> {
    let k = k.max(1);
    let mut out = Vec::with_capacity(wave.len() / k + 1);
    for c in (0..wave.len()).step_by(k) {
        let end = (c + k).min(wave.len());
        let (mut num, mut den, mut wsum) = (0.0, 0.0, 0.0);
        for j in c..end {
            if ivar[j] > 0.0 {
                num += flux[j] as f64 * ivar[j] as f64;
                den += ivar[j] as f64;
            }
            wsum += wave[j];
        }
        if den > 0.0 {
            out.push((wsum / (end - c) as f64, num / den, 1.0 / den.sqrt()));
        }
    }
    out
}

/// Draws one spectrum to `out` (PNG, 1400×600): flux smoothed over `smooth` pixels
/// (inverse-variance weighted; 1 = none), ±1σ band, the physics fit's `model` over it
/// when given (averaged over the same pixels, gaps where it is NaN), lines at redshift `z`.
#[allow(clippy::too_many_arguments)]
pub fn plot_spectrum(
    out: &Path,
    title: &str,
    wave: &[f64],
    flux: &[f32],
    ivar: &[f32],
    model: Option<&[f32]>,
    z: f64,
    smooth: usize,
) -> Result<(), QueryError> {
    register_font();
    let k = smooth.max(1);
    let binned = smooth_binned(wave, flux, ivar, k);
    let xs: Vec<f64> = binned.iter().map(|b| b.0).collect();
    let ys: Vec<f64> = binned.iter().map(|b| b.1).collect();
    let sig: Vec<f64> = binned.iter().map(|b| b.2).collect();
    if xs.is_empty() {
        return Err(QueryError::NoPlottablePixel);
    }
    let mut sorted: Vec<f64> = ys.clone();
    sorted.sort_by(f64::total_cmp);
    let lo = sorted[sorted.len() / 100].min(0.0);
    let hi = sorted[sorted.len() * 995 / 1000] * 1.25 + 1e-3;
    let root = BitMapBackend::new(out, (1400, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| QueryError::write(out, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(xs[0]..xs[xs.len() - 1], lo..hi)
        .map_err(|e| QueryError::write(out, e))?;
    chart
        .configure_mesh()
        .x_desc("observed wavelength (Å, vacuum)")
        .y_desc("flux (1e-17 erg/s/cm²/Å)")
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| QueryError::write(out, e))?;
    let band: Vec<(f64, f64)> = xs
        .iter()
        .zip(ys.iter().zip(&sig))
        .map(|(&x, (&y, &s))| (x, y + s))
        .chain(xs.iter().zip(ys.iter().zip(&sig)).rev().map(|(&x, (&y, &s))| (x, y - s)))
        .collect();
    chart
        .draw_series(std::iter::once(Polygon::new(band, RGBColor(180, 200, 230).filled())))
        .map_err(|e| QueryError::write(out, e))?
        .label("±1σ")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], RGBColor(180, 200, 230).filled()));
    chart
        .draw_series(LineSeries::new(xs.iter().copied().zip(ys.iter().copied()), BLACK.stroke_width(1)))
        .map_err(|e| QueryError::write(out, e))?
        .label("flux")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK));
    if let Some(model) = model.filter(|m| m.len() == wave.len() && m.iter().any(|v| v.is_finite())) {
        let colour = RGBColor(230, 120, 20);
        // Contiguous runs of finite model values, each averaged over `k` pixels.
        let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for c in (0..wave.len()).step_by(k) {
            let end = (c + k).min(wave.len());
            let vals: Vec<f64> = model[c..end].iter().filter(|v| v.is_finite()).map(|&v| v as f64).collect();
            if vals.len() == end - c {
                let x = wave[c..end].iter().sum::<f64>() / (end - c) as f64;
                if let Some(r) = runs.last_mut() {
                    r.push((x, vals.iter().sum::<f64>() / vals.len() as f64));
                }
            } else if runs.last().is_some_and(|r| !r.is_empty()) {
                runs.push(Vec::new());
            }
        }
        for (i, run) in runs.into_iter().filter(|r| !r.is_empty()).enumerate() {
            let series = chart.draw_series(LineSeries::new(run, colour.stroke_width(2))).map_err(|e| QueryError::write(out, e))?;
            if i == 0 {
                series.label("model (physics fit)").legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
            }
        }
    }
    if z.is_finite() {
        for (name, rest) in PLOT_LINES {
            let w = rest * (1.0 + z);
            if w < xs[0] || w > xs[xs.len() - 1] {
                continue;
            }
            chart
                .draw_series(LineSeries::new([(w, lo), (w, hi)], RGBColor(200, 60, 60).stroke_width(1)))
                .map_err(|e| QueryError::write(out, e))?;
            chart
                .draw_series(std::iter::once(Text::new(
                    name.to_string(),
                    (w + 5.0, hi - (hi - lo) * 0.04),
                    ("sans-serif", 15).into_font().color(&RGBColor(200, 60, 60)),
                )))
                .map_err(|e| QueryError::write(out, e))?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(|e| QueryError::write(out, e))?;
    root.present().map_err(|e| QueryError::write(out, e))?;
    Ok(())
}

/// One spectrum of a stack: label, observed wavelengths, flux, ivar, redshift.
pub struct StackedSpectrum<'a> {
    /// Legend text.
    pub label: String,
    /// Observed wavelengths, Å.
    pub wave: &'a [f64],
    /// Flux.
    pub flux: &'a [f32],
    /// Inverse variance (0 = masked).
    pub ivar: &'a [f32],
    /// Redshift (to move to the rest frame).
    pub z: f64,
}

/// Rest-frame spectra stacked with vertical offsets (each divided by its median good
/// flux, smoothed over `smooth` pixels), the first highlighted: a query and its
/// neighbours. PNG, 1400 × (300 + 110 per spectrum).
pub fn plot_stack(out: &Path, title: &str, spectra: &[StackedSpectrum], smooth: usize) -> Result<(), QueryError> {
    register_font();
    if spectra.is_empty() {
        return Err(QueryError::NoSpectrum);
    }
    let k = smooth.max(1);
    let mut curves: Vec<Vec<(f64, f64)>> = Vec::new();
    for s in spectra {
        let good: Vec<f32> = s.flux.iter().zip(s.ivar).filter(|(_, iv)| **iv > 0.0).map(|(f, _)| *f).collect();
        let mut sorted = good.clone();
        sorted.sort_by(f32::total_cmp);
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or(1.0).abs().max(1e-6) as f64;
        let pts: Vec<(f64, f64)> =
            smooth_binned(s.wave, s.flux, s.ivar, k).into_iter().map(|(x, y, _)| (x / (1.0 + s.z), y / median)).collect();
        curves.push(pts);
    }
    let xmin = curves.iter().filter_map(|c| c.first().map(|p| p.0)).fold(f64::INFINITY, f64::min);
    let xmax = curves.iter().filter_map(|c| c.last().map(|p| p.0)).fold(f64::NEG_INFINITY, f64::max);
    if !(xmin < xmax) {
        return Err(QueryError::NoPlottablePixel);
    }
    // Each spectrum gets a band of height `step`; peaks above it are clipped, not hidden.
    let step = 3.0;
    let n = curves.len();
    let (lo, hi) = (-1.0, step * n as f64 + 1.0);
    let height = 300 + 110 * n as u32;
    let root = BitMapBackend::new(out, (1400, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| QueryError::write(out, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(xmin..xmax, lo..hi)
        .map_err(|e| QueryError::write(out, e))?;
    chart
        .configure_mesh()
        .x_desc("rest-frame wavelength (Å, vacuum)")
        .y_desc("flux / median + offset")
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| QueryError::write(out, e))?;
    for (name, rest) in PLOT_LINES {
        if rest < xmin || rest > xmax {
            continue;
        }
        chart
            .draw_series(LineSeries::new([(rest, lo), (rest, hi)], RGBColor(230, 170, 170).stroke_width(1)))
            .map_err(|e| QueryError::write(out, e))?;
        chart
            .draw_series(std::iter::once(Text::new(
                name.to_string(),
                (rest + 8.0, hi - 0.3),
                ("sans-serif", 14).into_font().color(&RGBColor(200, 60, 60)),
            )))
            .map_err(|e| QueryError::write(out, e))?;
    }
    for (i, (c, s)) in curves.iter().zip(spectra).enumerate() {
        let offset = step * (n - 1 - i) as f64;
        let color = if i == 0 { RGBColor(20, 90, 200) } else { RGBColor(40, 40, 40) };
        // Each curve stays in its own band; lines taller than it are cut flat.
        let pts = c.iter().map(|&(x, y)| (x, offset + y.clamp(-0.2, step - 0.45)));
        chart.draw_series(LineSeries::new(pts, color.stroke_width(1))).map_err(|e| QueryError::write(out, e))?;
        chart
            .draw_series(std::iter::once(Text::new(
                s.label.clone(),
                (xmin + (xmax - xmin) * 0.01, offset + step - 0.25),
                ("sans-serif", 15).into_font().color(&color),
            )))
            .map_err(|e| QueryError::write(out, e))?;
    }
    root.present().map_err(|e| QueryError::write(out, e))?;
    Ok(())
}

/// A binned relation with 1σ errors: name, colour and (x, y, y error) points.
pub struct BinnedSeries {
    /// Legend text.
    pub name: String,
    /// Line colour.
    pub color: RGBColor,
    /// Points (x, y, σ_y).
    pub points: Vec<(f64, f64, f64)>,
}

/// Binned relations with error bars on one set of axes (PNG, 1000 × 700).
pub fn plot_binned(out: &Path, title: &str, x_label: &str, y_label: &str, series: &[BinnedSeries]) -> Result<(), QueryError> {
    register_font();
    let all: Vec<&(f64, f64, f64)> = series.iter().flat_map(|s| &s.points).filter(|p| p.0.is_finite() && p.1.is_finite()).collect();
    if all.is_empty() {
        return Err(QueryError::EmptyBins { path: out.to_path_buf() });
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for p in &all {
        let e = if p.2.is_finite() { p.2 } else { 0.0 };
        x0 = x0.min(p.0);
        x1 = x1.max(p.0);
        y0 = y0.min(p.1 - e);
        y1 = y1.max(p.1 + e);
    }
    let (dx, dy) = ((x1 - x0).max(0.5) * 0.08, (y1 - y0).max(0.2) * 0.15);
    let root = BitMapBackend::new(out, (1000, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| QueryError::write(out, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d((x0 - dx)..(x1 + dx), (y0 - dy)..(y1 + dy))
        .map_err(|e| QueryError::write(out, e))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()
        .map_err(|e| QueryError::write(out, e))?;
    for s in series {
        let pts: Vec<(f64, f64, f64)> = s.points.iter().copied().filter(|p| p.0.is_finite() && p.1.is_finite()).collect();
        let color = s.color;
        chart
            .draw_series(LineSeries::new(pts.iter().map(|p| (p.0, p.1)), color.stroke_width(2)))
            .map_err(|e| QueryError::write(out, e))?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        chart
            .draw_series(
                pts.iter()
                    .filter(|p| p.2.is_finite())
                    .map(|p| ErrorBar::new_vertical(p.0, p.1 - p.2, p.1, p.1 + p.2, color.stroke_width(2), 8)),
            )
            .map_err(|e| QueryError::write(out, e))?;
        chart.draw_series(pts.iter().map(|p| Circle::new((p.0, p.1), 5, color.filled()))).map_err(|e| QueryError::write(out, e))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 16))
        .draw()
        .map_err(|e| QueryError::write(out, e))?;
    root.present().map_err(|e| QueryError::write(out, e))?;
    Ok(())
}
