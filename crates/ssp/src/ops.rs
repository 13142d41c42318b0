//! Spectral operations on templates and model spectra: flux-conserving rebinning,
//! logarithmic rebinning, Gaussian convolution in velocity, and DESI resolution
//! matrices (band-diagonal, desispec convention).

/// Pixel edges of a grid given its centres (midpoints, ends extrapolated).
pub fn edges_from_centers(c: &[f64]) -> Vec<f64> {
    let n = c.len();
    let mut e = Vec::with_capacity(n + 1);
    if n == 0 {
        return e;
    }
    if n == 1 {
        return vec![c[0] - 0.5, c[0] + 0.5];
    }
    e.push(c[0] - 0.5 * (c[1] - c[0]));
    for i in 1..n {
        e.push(0.5 * (c[i - 1] + c[i]));
    }
    e.push(c[n - 1] + 0.5 * (c[n - 1] - c[n - 2]));
    e
}

/// Flux-conserving rebinning of a piecewise-constant density: `src` on bins with
/// edges `src_edges` onto bins `dst_edges`; returns the mean density in each new
/// bin (0 outside the source range). Exact: the integral over any union of
/// destination bins equals that of the source (Carnall 2017, SpectRes, §2).
pub fn rebin(src_edges: &[f64], src: &[f64], dst_edges: &[f64]) -> Vec<f64> {
    Rebinner::new(src_edges, dst_edges).apply(src)
}

/// [`rebin`] between two fixed grids, prepared once: where each destination edge falls
/// in the source grid is found a single time, so rebinning many spectra on the same
/// grids (a template library) costs one linear pass each.
#[derive(Debug, Clone)]
pub struct Rebinner {
    /// Source bin widths.
    widths: Vec<f64>,
    /// Per destination edge: source bin index and offset into it (Å).
    at: Vec<(usize, f64)>,
    /// Destination bin widths.
    dst_widths: Vec<f64>,
}

impl Rebinner {
    /// Prepares rebinning from bins `src_edges` to bins `dst_edges`.
    pub fn new(src_edges: &[f64], dst_edges: &[f64]) -> Self {
        let n = src_edges.len() - 1;
        let at = dst_edges
            .iter()
            .map(|&x| {
                if x <= src_edges[0] {
                    (0, 0.0)
                } else if x >= src_edges[n] {
                    (n, 0.0)
                } else {
                    let k = src_edges.partition_point(|&e| e <= x) - 1;
                    (k, x - src_edges[k])
                }
            })
            .collect();
        Rebinner {
            widths: src_edges.windows(2).map(|w| w[1] - w[0]).collect(),
            at,
            dst_widths: dst_edges.windows(2).map(|w| w[1] - w[0]).collect(),
        }
    }

    /// The mean density of `src` in each destination bin (0 outside the source range).
    pub fn apply(&self, src: &[f64]) -> Vec<f64> {
        // Cumulative integral at source edges, linearly interpolated at destination edges.
        let mut cum = Vec::with_capacity(src.len() + 1);
        cum.push(0.0);
        for (i, (v, w)) in src.iter().zip(&self.widths).enumerate() {
            let last = cum[i];
            cum.push(last + v * w);
        }
        let value = |&(k, off): &(usize, f64)| if off != 0.0 { cum[k] + src[k] * off } else { cum[k] };
        let mut out = Vec::with_capacity(self.dst_widths.len());
        let mut prev = self.at.first().map(value).unwrap_or(0.0);
        for (a, &width) in self.at[1..].iter().zip(&self.dst_widths) {
            let next = value(a);
            out.push(if width > 0.0 { (next - prev) / width } else { 0.0 });
            prev = next;
        }
        out
    }
}

/// Means of `flux` (on centres `w`) in bins of width `width` centred on `centers`.
pub fn bin_means(w: &[f64], flux: &[f32], centers: &[f64], width: f64) -> Vec<f64> {
    let src: Vec<f64> = flux.iter().map(|&x| x as f64).collect();
    let se = edges_from_centers(w);
    let mut de = Vec::with_capacity(centers.len() + 1);
    if let Some(&c0) = centers.first() {
        de.push(c0 - 0.5 * width);
        de.extend(centers.iter().map(|c| c + 0.5 * width));
    }
    rebin(&se, &src, &de)
}

/// A grid uniform in ln λ: `n` pixels from `ln_start` in steps of `dln` (so the
/// velocity per pixel is c·dln).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogGrid {
    /// ln λ of the first pixel centre.
    pub ln_start: f64,
    /// Step in ln λ.
    pub dln: f64,
    /// Number of pixels.
    pub n: usize,
}

impl LogGrid {
    /// A grid covering `[lo, hi]` Å with velocity step `velscale` km/s.
    pub fn covering(lo: f64, hi: f64, velscale: f64) -> Self {
        let dln = velscale / ard_core::cosmology::C_KM_S;
        let n = ((hi.ln() - lo.ln()) / dln).floor() as usize + 1;
        LogGrid { ln_start: lo.ln(), dln, n }
    }
    /// Pixel centres, Å.
    pub fn centers(&self) -> Vec<f64> {
        (0..self.n).map(|i| (self.ln_start + i as f64 * self.dln).exp()).collect()
    }
    /// Pixel edges, Å.
    pub fn edges(&self) -> Vec<f64> {
        (0..=self.n).map(|i| (self.ln_start + (i as f64 - 0.5) * self.dln).exp()).collect()
    }
    /// Velocity per pixel, km/s.
    pub fn velscale(&self) -> f64 {
        self.dln * ard_core::cosmology::C_KM_S
    }
}

/// Convolves `f` (uniform grid) with a normalised Gaussian of `sigma_pix` pixels,
/// truncated at ±5σ; edges use the available part of the kernel, renormalised.
pub fn gaussian_convolve(f: &[f64], sigma_pix: f64) -> Vec<f64> {
    if sigma_pix < 0.05 {
        return f.to_vec();
    }
    let half = (5.0 * sigma_pix).ceil() as i64;
    let kernel: Vec<f64> = (-half..=half).map(|k| (-0.5 * (k as f64 / sigma_pix).powi(2)).exp()).collect();
    let n = f.len() as i64;
    (0..n)
        .map(|i| {
            let (mut s, mut w) = (0.0, 0.0);
            for (kk, &kv) in kernel.iter().enumerate() {
                let j = i + kk as i64 - half;
                if j >= 0 && j < n {
                    s += kv * f[j as usize];
                    w += kv;
                }
            }
            s / w
        })
        .collect()
}

/// Convolves `f` on a linear grid with a Gaussian whose σ (in pixels) varies per
/// output pixel: out[i] = Σ_j G(j − i; σ_i) f[j] / Σ_j G. Used to bring a template
/// from its own line-spread function to a broader one (σ_i² = σ_target² − σ_template²).
pub fn gaussian_convolve_variable(f: &[f64], sigma_pix: &[f64]) -> Vec<f64> {
    let n = f.len() as i64;
    (0..n)
        .map(|i| {
            let s = sigma_pix[i as usize];
            if s < 0.05 {
                return f[i as usize];
            }
            let half = (5.0 * s).ceil() as i64;
            let (mut acc, mut w) = (0.0, 0.0);
            for j in (i - half).max(0)..=(i + half).min(n - 1) {
                let g = (-0.5 * ((j - i) as f64 / s).powi(2)).exp();
                acc += g * f[j as usize];
                w += g;
            }
            acc / w
        })
        .collect()
}

/// Band-diagonal resolution data (desispec convention: `ndiag × nwave`, diagonal d
/// holds offset `ndiag/2 − d`, `data[d][j] = R[j − offset][j]`) for a Gaussian
/// line-spread function of `sigma_pix[j]` pixels at each column j; columns sum to 1
/// so that flux is conserved. A column whose σ is not a positive number is the identity
/// (the pixel is left as it is).
pub fn gaussian_resolution(sigma_pix: &[f64], ndiag: usize) -> Vec<f32> {
    let n = sigma_pix.len();
    let half = (ndiag / 2) as i64;
    let mut data = vec![0f32; ndiag * n];
    for (j, &s) in sigma_pix.iter().enumerate() {
        let w: Vec<f64> = (0..ndiag)
            .map(|d| {
                let off = (half - d as i64) as f64;
                if s > 0.0 && s.is_finite() {
                    (-0.5 * (off / s).powi(2)).exp()
                } else {
                    f64::from(u8::from(off == 0.0))
                }
            })
            .collect();
        let total: f64 = w.iter().sum();
        for d in 0..ndiag {
            data[d * n + j] = (w[d] / total) as f32;
        }
    }
    data
}

/// [`gaussian_resolution`] for a σ given in Å at each pixel of `wave`: the band reaches
/// ±4σ of the widest pixel (at least ±1 pixel, at most ±200). Returns the data and
/// `ndiag`.
pub fn gaussian_resolution_angstrom(wave: &[f64], sigma_angstrom: &[f64]) -> (Vec<f32>, usize) {
    let n = wave.len();
    let step = |j: usize| if j + 1 < n { wave[j + 1] - wave[j] } else { wave[j] - wave[j.saturating_sub(1)] };
    let sigma_pix: Vec<f64> = (0..n).map(|j| sigma_angstrom[j] / step(j).abs().max(f64::MIN_POSITIVE)).collect();
    let widest = sigma_pix.iter().copied().filter(|s| s.is_finite()).fold(0.0, f64::max);
    let half = ((4.0 * widest).ceil() as usize).clamp(1, 200);
    let ndiag = 2 * half + 1;
    (gaussian_resolution(&sigma_pix, ndiag), ndiag)
}

/// Applies a band-diagonal resolution matrix to `f`: out[i] = Σ_d data[d][i+off_d]·f[i+off_d].
pub fn apply_resolution(data: &[f32], ndiag: usize, f: &[f64]) -> Vec<f64> {
    let n = f.len() as i64;
    let half = (ndiag / 2) as i64;
    (0..n)
        .map(|i| {
            let mut acc = 0.0;
            for d in 0..ndiag {
                let j = i + half - d as i64;
                if j >= 0 && j < n {
                    acc += data[d * n as usize + j as usize] as f64 * f[j as usize];
                }
            }
            acc
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebin_conserves_flux() {
        let src_c: Vec<f64> = (0..100).map(|i| 1000.0 + 0.9 * i as f64).collect();
        let src: Vec<f64> = (0..100).map(|i| (i as f64 * 0.3).sin() + 2.0).collect();
        let se = edges_from_centers(&src_c);
        let de: Vec<f64> = (0..=30).map(|i| se[0] + 2.5 * i as f64).collect();
        let out = rebin(&se, &src, &de);
        let total_src: f64 = src.iter().sum::<f64>() * 0.9;
        let total_dst: f64 = out.iter().sum::<f64>() * 2.5;
        let covered = (de[30] - se[0]).min(90.0);
        assert!(covered >= 75.0);
        // Integral of the covered part: recompute from the source directly.
        let direct: f64 = src.iter().take((75.0f64 / 0.9).floor() as usize).sum::<f64>() * 0.9;
        assert!((total_dst - direct).abs() < 3.0, "{total_dst} vs {direct} of {total_src}");
    }

    #[test]
    fn resolution_conserves_flux_and_has_the_right_width() {
        let n = 400;
        let sig = vec![1.2; n];
        let r = gaussian_resolution(&sig, 11);
        let mut f = vec![0.0; n];
        f[200] = 1.0;
        let out = apply_resolution(&r, 11, &f);
        let total: f64 = out.iter().sum();
        assert!((total - 1.0).abs() < 1e-6);
        let var: f64 = out.iter().enumerate().map(|(i, v)| v * (i as f64 - 200.0).powi(2)).sum();
        assert!((var.sqrt() - 1.2).abs() < 0.01);
    }

    #[test]
    fn angstrom_columns_have_the_requested_rms_width() {
        let wave: Vec<f64> = (0..400).map(|i| 4000.0 + 0.5 * i as f64).collect();
        let mut sigma = vec![1.5; wave.len()]; // 3 pixels
        sigma[10] = f64::NAN;
        let (r, ndiag) = gaussian_resolution_angstrom(&wave, &sigma);
        assert_eq!(ndiag, 25);
        let n = wave.len();
        let half = (ndiag / 2) as f64;
        let moments = |j: usize| -> (f64, f64) {
            (0..ndiag).fold((0.0, 0.0), |(a, b), d| {
                let w = r[d * n + j] as f64;
                (a + w, b + w * (half - d as f64).powi(2))
            })
        };
        let (s0, s2) = moments(200);
        assert!((s0 - 1.0).abs() < 1e-6, "normalised: {s0}");
        assert!((s2.sqrt() - 3.0).abs() < 0.01, "rms {} pixels", s2.sqrt());
        assert_eq!(moments(10), (1.0, 0.0), "a pixel without a width is left as it is");
    }
}
