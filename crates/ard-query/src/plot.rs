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

/// Draws one spectrum to `out` (PNG, 1400×600): flux smoothed over `smooth` pixels
/// (inverse-variance weighted; 1 = none), ±1σ band, lines at redshift `z`.
pub fn plot_spectrum(out: &Path, title: &str, wave: &[f64], flux: &[f32], ivar: &[f32], z: f64, smooth: usize) -> Result<(), QueryError> {
    register_font();
    let err = |e: &dyn std::fmt::Display| QueryError::Output(format!("{}: {e}", out.display()));
    let k = smooth.max(1);
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    let mut sig = Vec::new();
    for c in (0..wave.len()).step_by(k) {
        let (mut num, mut den, mut wsum) = (0.0, 0.0, 0.0);
        for j in c..(c + k).min(wave.len()) {
            if ivar[j] > 0.0 {
                num += flux[j] as f64 * ivar[j] as f64;
                den += ivar[j] as f64;
            }
            wsum += wave[j];
        }
        if den > 0.0 {
            xs.push(wsum / (c + k).min(wave.len()).saturating_sub(c).max(1) as f64);
            ys.push(num / den);
            sig.push(1.0 / den.sqrt());
        }
    }
    if xs.is_empty() {
        return Err(QueryError::Output("no pixel with ivar > 0 to plot".into()));
    }
    let mut sorted: Vec<f64> = ys.clone();
    sorted.sort_by(f64::total_cmp);
    let lo = sorted[sorted.len() / 100].min(0.0);
    let hi = sorted[sorted.len() * 995 / 1000] * 1.25 + 1e-3;
    let root = BitMapBackend::new(out, (1400, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(xs[0]..xs[xs.len() - 1], lo..hi)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("observed wavelength (Å, vacuum)")
        .y_desc("flux (1e-17 erg/s/cm²/Å)")
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| err(&e))?;
    let band: Vec<(f64, f64)> = xs
        .iter()
        .zip(ys.iter().zip(&sig))
        .map(|(&x, (&y, &s))| (x, y + s))
        .chain(xs.iter().zip(ys.iter().zip(&sig)).rev().map(|(&x, (&y, &s))| (x, y - s)))
        .collect();
    chart
        .draw_series(std::iter::once(Polygon::new(band, RGBColor(180, 200, 230).filled())))
        .map_err(|e| err(&e))?
        .label("±1σ")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], RGBColor(180, 200, 230).filled()));
    chart
        .draw_series(LineSeries::new(xs.iter().copied().zip(ys.iter().copied()), BLACK.stroke_width(1)))
        .map_err(|e| err(&e))?
        .label("flux")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK));
    if z.is_finite() {
        for (name, rest) in PLOT_LINES {
            let w = rest * (1.0 + z);
            if w < xs[0] || w > xs[xs.len() - 1] {
                continue;
            }
            chart.draw_series(LineSeries::new([(w, lo), (w, hi)], RGBColor(200, 60, 60).stroke_width(1))).map_err(|e| err(&e))?;
            chart
                .draw_series(std::iter::once(Text::new(
                    name.to_string(),
                    (w + 5.0, hi - (hi - lo) * 0.04),
                    ("sans-serif", 15).into_font().color(&RGBColor(200, 60, 60)),
                )))
                .map_err(|e| err(&e))?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
