//! Line-spread functions of the simulated fibres.
//!
//! The default mock gives every fibre a Gaussian LSF (its width from the DESI instrument
//! paper, scaled per fibre), which is exactly what the physics fit assumes when it reduces a
//! resolution matrix to its r.m.s. width. The independent mock instead uses DESI's measured
//! resolution matrices: the data of the two genuine coadds in `testdata/desi`
//! (`data/desi-resolution-genuine.f32le`, made by `scripts/fixtures/extract_desi_lsf.py`).
//! They are not Gaussian (their wings and asymmetry vary with wavelength) and their
//! columns do not sum exactly to one (a coadd's resolution is an ivar-weighted mean over
//! exposures). Two fibres are too few to draw from, so each simulated fibre gets, per
//! camera, a random mixture of the two, widened or narrowed by a few per cent
//! (DESI's LSF width varies by about that much across the focal plane, DESI Collaboration
//! 2022, AJ 164, 207, Fig. 28): the shapes stay DESI's, their variety is resampled.

use std::sync::OnceLock;

use crate::observe::{CAMERAS, NDIAG};
use crate::rng::Rng;

/// The genuine data: per fibre, per camera (b, r, z), NDIAG × npix in desispec diagonal
/// storage (`data[d * npix + j]` is column j at offset NDIAG/2 − d).
static GENUINE_BYTES: &[u8] = include_bytes!("../data/desi-resolution-genuine.f32le");

/// Number of genuine fibres in [`GENUINE_BYTES`].
pub const N_GENUINE: usize = 2;

/// The genuine resolution data, parsed once: `[fibre][camera]`.
pub fn genuine() -> &'static [[Vec<f32>; 3]] {
    static PARSED: OnceLock<Vec<[Vec<f32>; 3]>> = OnceLock::new();
    PARSED.get_or_init(|| {
        let values: Vec<f32> = GENUINE_BYTES.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let per_fibre: usize = CAMERAS.iter().map(|c| NDIAG * c.npix).sum();
        assert_eq!(values.len(), N_GENUINE * per_fibre, "desi-resolution-genuine.f32le does not match the camera grids");
        values
            .chunks_exact(per_fibre)
            .map(|fibre| {
                let mut at = 0;
                let mut cams: [Vec<f32>; 3] = Default::default();
                for (ci, cam) in CAMERAS.iter().enumerate() {
                    cams[ci] = fibre[at..at + NDIAG * cam.npix].to_vec();
                    at += NDIAG * cam.npix;
                }
                cams
            })
            .collect()
    })
}

/// The line-spread function of one simulated fibre.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FibreLsf {
    /// A Gaussian of `scale` × the cameras' nominal width.
    Gaussian {
        /// Width relative to nominal.
        scale: f64,
    },
    /// DESI's measured LSF: per camera, weight `mix` on genuine fibre 0 (1 − `mix` on
    /// fibre 1), widened by `stretch`.
    Genuine {
        /// Mixture weight per camera, in [0, 1].
        mix: [f64; 3],
        /// Width factor per camera (1 = as measured; see [`stretch_offsets`]).
        stretch: [f64; 3],
    },
}

impl FibreLsf {
    /// A Gaussian fibre as the default mock draws it (width ±3 %).
    pub fn draw_gaussian(rng: &mut Rng) -> FibreLsf {
        FibreLsf::Gaussian { scale: 1.0 + 0.03 * rng.normal() }
    }

    /// A genuine-shaped fibre: mixture uniform on [0, 1], width factor 1 ± 4 % (1σ, clipped at
    /// ±10 %) per camera.
    pub fn draw_genuine(rng: &mut Rng) -> FibreLsf {
        let mut mix = [0.0; 3];
        let mut stretch = [0.0; 3];
        for c in 0..3 {
            mix[c] = rng.uniform();
            stretch[c] = (1.0 + 0.04 * rng.normal()).clamp(0.9, 1.1);
        }
        FibreLsf::Genuine { mix, stretch }
    }

    /// Resolution data (NDIAG × npix) of camera `ci` (0, 1, 2 = b, r, z).
    pub fn resolution(&self, ci: usize) -> Vec<f32> {
        match *self {
            FibreLsf::Gaussian { scale } => CAMERAS[ci].resolution(scale),
            FibreLsf::Genuine { mix, stretch } => {
                let g = genuine();
                let (a, b) = (&g[0][ci], &g[1][ci]);
                let mixed: Vec<f32> = a.iter().zip(b).map(|(x, y)| (mix[ci] * *x as f64 + (1.0 - mix[ci]) * *y as f64) as f32).collect();
                stretch_offsets(&mixed, NDIAG, stretch[ci])
            }
        }
    }
}

/// Widens (`s` > 1) or narrows every column of diagonal-stored resolution data by about
/// the factor `s`, keeping its shape: k'(o) = k(0) · (k(o) / k(0))^(1/s²), rescaled so the
/// column keeps its sum. For a Gaussian core this is exactly a width × s; the measured
/// wings and asymmetry go with it. (Interpolating k(o / s) between the integer offsets
/// would not do: on a kernel one pixel wide, linear interpolation alone widens it by
/// ≈ 10 %.) Negative values (a few 10⁻³, from the spectral extraction) keep their sign.
pub fn stretch_offsets(data: &[f32], ndiag: usize, s: f64) -> Vec<f32> {
    if (s - 1.0).abs() < 1e-12 {
        return data.to_vec();
    }
    let n = data.len() / ndiag;
    let half = ndiag / 2;
    let p = 1.0 / (s * s);
    let mut out = vec![0f32; data.len()];
    for j in 0..n {
        let peak = data[half * n + j] as f64;
        let old: f64 = (0..ndiag).map(|d| data[d * n + j] as f64).sum();
        if peak <= 0.0 {
            (0..ndiag).for_each(|d| out[d * n + j] = data[d * n + j]);
            continue;
        }
        let new: Vec<f64> = (0..ndiag)
            .map(|d| {
                let k = data[d * n + j] as f64 / peak;
                peak * k.signum() * k.abs().powf(p)
            })
            .collect();
        let total: f64 = new.iter().sum();
        let norm = if total != 0.0 { old / total } else { 0.0 };
        for d in 0..ndiag {
            out[d * n + j] = (new[d] * norm) as f32;
        }
    }
    out
}

/// R.m.s. width (pixels) of column `j` of diagonal-stored resolution data: the quantity
/// the physics fit reduces a resolution matrix to.
pub fn rms_width(data: &[f32], ndiag: usize, j: usize) -> f64 {
    let n = data.len() / ndiag;
    let half = (ndiag / 2) as f64;
    let (mut s0, mut s1, mut s2) = (0.0, 0.0, 0.0);
    for d in 0..ndiag {
        let (r, o) = (data[d * n + j] as f64, half - d as f64);
        s0 += r;
        s1 += r * o;
        s2 += r * o * o;
    }
    (s2 / s0 - (s1 / s0).powi(2)).max(0.0).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genuine_data_are_desi_resolution_columns() {
        let g = genuine();
        assert_eq!(g.len(), N_GENUINE);
        for fibre in g {
            for (ci, cam) in CAMERAS.iter().enumerate() {
                let r = &fibre[ci];
                // Peak on the central diagonal and r.m.s. width 0.75–1.15 pixels (FWHM ≈
                // 1.8–2.2 Å) in the middle of each camera, as measured from the coadds.
                let j = cam.npix / 2;
                let peak = (0..NDIAG).max_by(|&a, &b| r[a * cam.npix + j].total_cmp(&r[b * cam.npix + j])).unwrap_or(0);
                assert_eq!(peak, NDIAG / 2, "camera {}", cam.name);
                let w = rms_width(r, NDIAG, j);
                assert!((0.75..1.15).contains(&w), "camera {} r.m.s. width {w}", cam.name);
                // Column sums scatter about one (coadd weighting), median within 1 %.
                let mut sums: Vec<f64> = (0..cam.npix).map(|j| (0..NDIAG).map(|d| r[d * cam.npix + j] as f64).sum()).collect();
                sums.sort_by(f64::total_cmp);
                assert!((sums[sums.len() / 2] - 1.0).abs() < 0.01, "camera {} median column sum {}", cam.name, sums[sums.len() / 2]);
            }
        }
    }

    #[test]
    fn stretching_scales_the_width_and_keeps_the_sum() {
        let r = FibreLsf::Genuine { mix: [0.3; 3], stretch: [1.0; 3] }.resolution(1);
        let wide = FibreLsf::Genuine { mix: [0.3; 3], stretch: [1.08; 3] }.resolution(1);
        let n = CAMERAS[1].npix;
        let j = n / 3;
        let ratio = rms_width(&wide, NDIAG, j) / rms_width(&r, NDIAG, j);
        // The core widens by the factor; the discrete sampling and the wings move it a little.
        assert!((1.05..1.11).contains(&ratio), "width ratio {ratio}");
        let sum = |d: &[f32]| (0..NDIAG).map(|k| d[k * n + j] as f64).sum::<f64>();
        assert!((sum(&wide) - sum(&r)).abs() < 1e-5);
    }

    #[test]
    fn genuine_lsf_is_not_gaussian() {
        // The genuine kernels' wings: the fraction of the column beyond ±2 pixels is several
        // times a Gaussian's of the same r.m.s. width (which the physics fit assumes).
        // Measured: 1.0–1.6 % against 0.2–0.3 % (the peaks agree within 1–3 %).
        let r = FibreLsf::Genuine { mix: [0.5; 3], stretch: [1.0; 3] }.resolution(0);
        let n = CAMERAS[0].npix;
        let j = n / 2;
        let w = rms_width(&r, NDIAG, j);
        let gauss = ssp::ops::gaussian_resolution(&vec![w; n], NDIAG);
        let wings = |d: &[f32]| (0..NDIAG).filter(|&k| (k as i64 - 5).abs() > 2).map(|k| d[k * n + j].abs() as f64).sum::<f64>();
        let (genuine, gaussian) = (wings(&r), wings(&gauss));
        assert!(genuine > 2.0 * gaussian, "wings {genuine} vs Gaussian {gaussian}");
    }
}
