//! The stellar templates prepared for one spectrum: E-MILES SSPs brought to the
//! spectrum's line-spread function, log-rebinned onto its ln λ grid (extended by a
//! margin for the LOSVD's reach) and Fourier-transformed once, so that every trial
//! LOSVD of the fit costs one inverse FFT per template (Cappellari 2017, §3.2).
//!
//! Resolution matching follows the usual rule (e.g. Cappellari 2017, §2.3): a template
//! is convolved with a Gaussian of σ² = σ_inst² − σ_tpl² (in km/s, per wavelength)
//! where the spectrum is the broader; where the *templates* are broader — E-MILES
//! has FWHM 2.51 Å, while DESI's LSF shifted to the rest frame of a z ≳ 0.1 galaxy is
//! sharper — the fitted dispersion absorbs the difference, so the reported stellar
//! dispersion is corrected in quadrature, σ*² = σ_fit² + ⟨σ_tpl² − σ_inst²⟩, the
//! average taken over 3900–5500 Å (where the absorption lines that set σ are).

use std::sync::Arc;

use ard_core::cosmology::C_KM_S;
use realfft::num_complex::Complex;
use realfft::RealFftPlanner;
use ssp::ops::{edges_from_centers, gaussian_convolve_variable, Rebinner};
use ssp::SspLibrary;

use crate::prepare::Prepared;

/// Templates for one spectrum.
pub struct TemplateSet {
    /// Number of templates.
    pub count: usize,
    /// Log pixels of margin on each side of the data range.
    pub margin: usize,
    /// FFT length.
    pub nfft: usize,
    /// Spectra in Fourier space, `count × (nfft/2 + 1)`.
    pub spectra_hat: Vec<Complex<f64>>,
    /// ⟨σ_tpl² − σ_inst²⟩ (km/s)² over 3900–5500 Å where positive, else 0.
    pub sigma_correction_sq: f64,
    /// The inverse transform, planned once.
    pub inverse: Arc<dyn realfft::ComplexToReal<f64>>,
    /// The forward transform, planned once.
    pub forward: Arc<dyn realfft::RealToComplex<f64>>,
}

/// Why templates cannot be prepared.
#[derive(Debug, Clone, PartialEq)]
pub struct OutOfRange {
    /// Rest-frame range needed, Å.
    pub needed: (f64, f64),
    /// Range the templates cover, Å.
    pub covered: (f64, f64),
}

/// An FFT length ≥ n with only factors 2, 3 and 5.
fn fast_length(n: usize) -> usize {
    let mut m = n.max(2);
    loop {
        let mut k = m;
        for p in [2, 3, 5] {
            while k.is_multiple_of(p) {
                k /= p;
            }
        }
        if k == 1 {
            return m;
        }
        m += 1;
    }
}

/// Prepares the library's templates for `spec` with `margin` log pixels each side.
pub fn prepare_templates(lib: &SspLibrary, spec: &Prepared, margin: usize) -> Result<TemplateSet, OutOfRange> {
    let n = spec.len();
    let ntpl = n + 2 * margin;
    let lo_ln = spec.ln_start - (margin as f64 + 0.5) * spec.dln;
    let tpl_edges: Vec<f64> = (0..=ntpl).map(|k| (lo_ln + k as f64 * spec.dln).exp()).collect();
    let (need_lo, need_hi) = (tpl_edges[0], tpl_edges[ntpl]);
    let native_edges = edges_from_centers(&lib.wave);
    let (have_lo, have_hi) = (native_edges[0], native_edges[native_edges.len() - 1]);
    if need_lo < have_lo || need_hi > have_hi {
        return Err(OutOfRange { needed: (need_lo, need_hi), covered: (have_lo, have_hi) });
    }
    // Native pixels that matter (with 30 Å for the broadening kernel).
    let i0 = lib.wave.partition_point(|&w| w < need_lo - 30.0);
    let i1 = lib.wave.partition_point(|&w| w < need_hi + 30.0).min(lib.npix());
    let step = lib.wave[1] - lib.wave[0];
    let sigma_inst_at = |w: f64| -> f64 {
        let k = ((w.ln() - spec.ln_start) / spec.dln).round();
        spec.sigma_inst[(k.max(0.0) as usize).min(n - 1)]
    };
    let sigma_tpl_at = |i: usize| -> f64 { C_KM_S * lib.fwhm[i] as f64 / ard_core::constants::FWHM_PER_SIGMA / lib.wave[i] };
    // Broadening kernel per native pixel (σ in native pixels), zero where the templates are broader.
    let kernel: Vec<f64> = (i0..i1)
        .map(|i| {
            let d2 = sigma_inst_at(lib.wave[i]).powi(2) - sigma_tpl_at(i).powi(2);
            if d2 > 0.0 {
                d2.sqrt() * lib.wave[i] / C_KM_S / step
            } else {
                0.0
            }
        })
        .collect();
    let needs_broadening = kernel.iter().any(|&s| s >= 0.05);
    let (mut num, mut cnt) = (0.0, 0.0);
    for k in 0..n {
        let w = spec.wave_at(k as f64);
        if spec.good[k] && (3900.0..=5500.0).contains(&w) {
            let i = lib.wave.partition_point(|&x| x < w).min(lib.npix() - 1);
            num += (sigma_tpl_at(i).powi(2) - spec.sigma_inst[k].powi(2)).max(0.0);
            cnt += 1.0;
        }
    }
    let sigma_correction_sq = if cnt > 0.0 { num / cnt } else { 0.0 };

    let nfft = fast_length(ntpl);
    let mut planner = RealFftPlanner::<f64>::new();
    let forward = planner.plan_fft_forward(nfft);
    let inverse = planner.plan_fft_inverse(nfft);
    let nh = nfft / 2 + 1;
    let count = lib.ages_gyr.len() * lib.metals.len();
    let mut spectra_hat = vec![Complex::new(0.0, 0.0); count * nh];
    let rebinner = Rebinner::new(&native_edges[i0..=i1], &tpl_edges);
    let mut buf = vec![0.0; nfft];
    let mut scratch = forward.make_scratch_vec();
    for t in 0..count {
        let native: Vec<f64> = lib.flux[t * lib.npix() + i0..t * lib.npix() + i1].iter().map(|&x| x as f64).collect();
        let native = if needs_broadening { gaussian_convolve_variable(&native, &kernel) } else { native };
        let logf = rebinner.apply(&native);
        // Normalise over the data range for conditioning; weights are relative anyway.
        let mean = logf[margin..margin + n].iter().sum::<f64>() / n as f64;
        let norm = if mean > 0.0 { 1.0 / mean } else { 1.0 };
        buf.iter_mut().for_each(|b| *b = 0.0);
        for (b, f) in buf.iter_mut().zip(&logf) {
            *b = f * norm;
        }
        let out = &mut spectra_hat[t * nh..(t + 1) * nh];
        // Lengths are consistent by construction; an error here is a programming bug.
        if forward.process_with_scratch(&mut buf, out, &mut scratch).is_err() {
            out.iter_mut().for_each(|c| *c = Complex::new(0.0, 0.0));
        }
    }
    Ok(TemplateSet { count, margin, nfft, spectra_hat, sigma_correction_sq, inverse, forward })
}
