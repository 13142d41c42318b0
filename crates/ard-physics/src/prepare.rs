//! From a camera-merged DESI spectrum to what the fit and the indices work on.
//!
//! DESI wavelengths are vacuum (observed frame); E-MILES, the Lick bands and the line
//! list are air. The spectrum is moved to air (IAU/Morton 2000 formula, `ard_core::
//! wavelength`) and to the rest frame with the redrock redshift, keeping the flux
//! density values as they are (so a line's integral over rest-frame Å is its observed
//! flux divided by 1 + z), then rebinned flux-conservingly onto a grid uniform in ln λ
//! with as many pixels as the input (Cappellari & Emsellem 2004, §2: the LOSVD is a
//! convolution only in ln λ). Variances are rebinned with the squared overlap
//! weights; a rebinned pixel that touches a masked or zero-ivar input pixel is masked.
//!
//! The line-spread function comes from the resolution matrix: the r.m.s. width of
//! each column of the band-diagonal matrix (desispec convention), in km/s.

use ard_core::cosmology::C_KM_S;
use ard_core::wavelength::vacuum_to_air;
use ssp::ops::edges_from_centers;

/// A spectrum ready for the fit and the indices.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Redshift used (redrock).
    pub z: f64,
    /// ln λ (rest, air) of the first log pixel centre.
    pub ln_start: f64,
    /// Step in ln λ.
    pub dln: f64,
    /// Flux density on the log grid, divided by `scale`.
    pub flux: Vec<f64>,
    /// Variance of `flux`.
    pub var: Vec<f64>,
    /// Usable log pixels.
    pub good: Vec<bool>,
    /// LSF dispersion at each log pixel, km/s.
    pub sigma_inst: Vec<f64>,
    /// The normalisation divided out (median good flux), 1e-17 erg/s/cm²/Å.
    pub scale: f64,
    /// Rest-frame air pixel edges of the original linear grid.
    pub lin_edges: Vec<f64>,
    /// Flux on the linear grid (original units).
    pub lin_flux: Vec<f64>,
    /// Variance on the linear grid.
    pub lin_var: Vec<f64>,
    /// Usable linear pixels.
    pub lin_good: Vec<bool>,
}

impl Prepared {
    /// Number of log pixels.
    pub fn len(&self) -> usize {
        self.flux.len()
    }
    /// Whether there are no pixels.
    pub fn is_empty(&self) -> bool {
        self.flux.is_empty()
    }
    /// Velocity per log pixel, km/s.
    pub fn velscale(&self) -> f64 {
        self.dln * C_KM_S
    }
    /// Rest air wavelength of log pixel `k` (may be fractional or outside the grid).
    pub fn wave_at(&self, k: f64) -> f64 {
        (self.ln_start + k * self.dln).exp()
    }
}

/// Why a spectrum cannot be prepared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrepareProblem {
    /// No pixel has positive ivar and a clean mask.
    NoGoodPixels,
    /// Array lengths disagree.
    Shape(String),
}

/// Prepares one object's merged spectrum (`wave_vac` observed vacuum Å, 1e-17 flux
/// units) at redshift `z`.
pub fn prepare(
    wave_vac: &[f64],
    flux: &[f32],
    ivar: &[f32],
    mask: &[i32],
    resolution: &[f32],
    ndiag: usize,
    z: f64,
) -> Result<Prepared, PrepareProblem> {
    let n = wave_vac.len();
    if flux.len() != n || ivar.len() != n || mask.len() != n || resolution.len() != ndiag * n || n < 2 {
        return Err(PrepareProblem::Shape(format!(
            "{n} wavelengths but {} flux, {} ivar, {} mask, {} resolution values ({ndiag} diagonals)",
            flux.len(),
            ivar.len(),
            mask.len(),
            resolution.len()
        )));
    }
    let good: Vec<bool> = (0..n).map(|i| ivar[i] > 0.0 && mask[i] == 0 && flux[i].is_finite() && ivar[i].is_finite()).collect();
    if !good.iter().any(|&g| g) {
        return Err(PrepareProblem::NoGoodPixels);
    }
    let rest: Vec<f64> = wave_vac.iter().map(|&w| vacuum_to_air(w) / (1.0 + z)).collect();
    let lin_edges = edges_from_centers(&rest);
    let lin_flux: Vec<f64> = (0..n).map(|i| if good[i] { flux[i] as f64 } else { 0.0 }).collect();
    let lin_var: Vec<f64> = (0..n).map(|i| if good[i] { 1.0 / ivar[i] as f64 } else { f64::INFINITY }).collect();

    // LSF: r.m.s. width of each resolution-matrix column, in pixels → km/s.
    let half = (ndiag / 2) as f64;
    let sigma_obs: Vec<f64> = (0..n)
        .map(|j| {
            let (mut s0, mut s1, mut s2) = (0.0, 0.0, 0.0);
            for d in 0..ndiag {
                let r = resolution[d * n + j] as f64;
                let off = half - d as f64;
                s0 += r;
                s1 += r * off;
                s2 += r * off * off;
            }
            let pix = if s0 > 0.0 { (s2 / s0 - (s1 / s0).powi(2)).max(0.0).sqrt() } else { 0.0 };
            let dw = if j + 1 < n { wave_vac[j + 1] - wave_vac[j] } else { wave_vac[j] - wave_vac[j - 1] };
            C_KM_S * pix * dw / wave_vac[j]
        })
        .collect();
    // Columns of padding (no camera) have no LSF: take the nearest real one.
    let fallback = sigma_obs.iter().copied().filter(|&s| s > 0.0).fold(f64::NAN, |a, b| if a.is_nan() { b } else { a.min(b) });
    let sigma_obs: Vec<f64> = sigma_obs.iter().map(|&s| if s > 0.0 { s } else { fallback }).collect();

    let (lo, hi) = (lin_edges[0], lin_edges[n]);
    let dln = (hi.ln() - lo.ln()) / n as f64;
    let log_edges: Vec<f64> = (0..=n).map(|k| (lo.ln() + k as f64 * dln).exp()).collect();
    let (flux_log, var_log, good_log) = rebin_with_variance(&lin_edges, &lin_flux, &lin_var, &good, &log_edges);
    let ln_start = lo.ln() + 0.5 * dln;
    let sigma_inst: Vec<f64> = (0..n)
        .map(|k| {
            let w = (ln_start + k as f64 * dln).exp();
            let j = rest.partition_point(|&x| x < w).min(n - 1);
            sigma_obs[j]
        })
        .collect();
    let mut vals: Vec<f64> = (0..n).filter(|&k| good_log[k]).map(|k| flux_log[k]).collect();
    if vals.is_empty() {
        return Err(PrepareProblem::NoGoodPixels);
    }
    vals.sort_by(|a, b| a.total_cmp(b));
    let med = vals[vals.len() / 2].abs();
    let mean_abs = vals.iter().map(|v| v.abs()).sum::<f64>() / vals.len() as f64;
    let scale = if med > 0.0 {
        med
    } else if mean_abs > 0.0 {
        mean_abs
    } else {
        1.0
    };
    Ok(Prepared {
        z,
        ln_start,
        dln,
        flux: flux_log.iter().map(|f| f / scale).collect(),
        var: var_log.iter().map(|v| v / (scale * scale)).collect(),
        good: good_log,
        sigma_inst,
        scale,
        lin_edges,
        lin_flux,
        lin_var,
        lin_good: good,
    })
}

/// Flux-conserving rebinning of a piecewise-constant density with its variance: each
/// destination pixel is Σ a_ik f_i with a_ik = o_ik / Σ_i o_ik over overlaps o_ik; it is
/// good only when every overlapping source pixel is good and it is fully covered.
///
/// Rebinning correlates neighbouring pixels (an input pixel split between two output
/// pixels appears in both), and a χ² that treats them as independent underestimates
/// the errors of everything measured over several pixels. The variance returned is
/// therefore the *row sum* of the output covariance, Σ_j Cov(k, j) = Σ_i a_ik v_i S_i
/// with S_i = Σ_j a_ij: with it, the variance of any sum of adjacent output pixels
/// (a line flux, a band) is the true one, while single-pixel χ² values come out
/// somewhat below 1.
pub fn rebin_with_variance(
    src_edges: &[f64],
    src: &[f64],
    var: &[f64],
    good: &[bool],
    dst_edges: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<bool>) {
    let nd = dst_edges.len() - 1;
    let ns = src.len();
    // Overlap weights a_ik as (k, i, a) triples, in order.
    let mut triples: Vec<(usize, usize, f64)> = Vec::with_capacity(2 * nd + ns);
    let (mut f, mut g) = (vec![0.0; nd], vec![false; nd]);
    let mut i = 0usize;
    for k in 0..nd {
        let (a, b) = (dst_edges[k], dst_edges[k + 1]);
        while i < ns && src_edges[i + 1] <= a {
            i += 1;
        }
        let start = triples.len();
        let (mut so, mut ok) = (0.0, true);
        let mut j = i;
        while j < ns && src_edges[j] < b {
            let o = src_edges[j + 1].min(b) - src_edges[j].max(a);
            if o > 0.0 {
                triples.push((k, j, o));
                so += o;
                ok &= good[j];
            }
            j += 1;
        }
        if so > 0.0 {
            for t in &mut triples[start..] {
                t.2 /= so;
                f[k] += t.2 * src[t.1];
            }
            g[k] = ok && (so - (b - a)).abs() < 1e-9 * (b - a).max(1.0);
        }
    }
    let mut spread = vec![0.0; ns];
    for &(_, i, a) in &triples {
        spread[i] += a;
    }
    let mut v = vec![0.0; nd];
    for &(k, i, a) in &triples {
        v[k] += a * var[i] * spread[i];
    }
    for k in 0..nd {
        if v[k] == 0.0 {
            v[k] = f64::INFINITY;
        }
    }
    (f, v, g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebinning_conserves_flux_and_averages_variance() {
        let edges: Vec<f64> = (0..=100).map(|i| 4000.0 + i as f64).collect();
        let src: Vec<f64> = (0..100).map(|i| 1.0 + (i % 7) as f64).collect();
        let var = vec![4.0; 100];
        let mut good = vec![true; 100];
        good[50] = false;
        let dst: Vec<f64> = (0..=25).map(|i| 4000.0 + 4.0 * i as f64).collect();
        let (f, v, g) = rebin_with_variance(&edges, &src, &var, &good, &dst);
        let total: f64 = f.iter().sum::<f64>() * 4.0;
        assert!((total - src.iter().sum::<f64>()).abs() < 1e-9);
        // Four equal pixels of variance 4 average to variance 1 (no pixel is shared).
        assert!((v[0] - 1.0).abs() < 1e-12);
        // Splitting pixels in two: the variance of a sum of output pixels is the true one.
        let half: Vec<f64> = (0..=200).map(|i| 4000.0 + 0.5 * i as f64).collect();
        let (_, v2, _) = rebin_with_variance(&edges, &src, &var, &[true; 100], &half);
        // Two halves of one pixel of variance 4 are the same number: Cov = 4 on and next to
        // the diagonal, row sum 8; the flux of the pair, 0.5·(f + f), has variance
        // 0.25·(8 + 8) = 4, the input pixel's own.
        assert!((v2[10] - 8.0).abs() < 1e-12);
        assert!(!g[12] && g[11] && g[13]);
    }
}
