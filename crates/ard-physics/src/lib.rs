//! `ard-physics` owns the per-object spectral physics of the ARD: the absorption
//! indices Dn4000 and HδA ([`indices`]) and a clean-room, pPXF-style full-spectrum fit
//! of stellar kinematics and emission lines ([`fit`]) against the E-MILES templates of
//! the `ssp` crate. [`PhysicsStage`] runs both inside `ingest` and writes the columns
//! listed by [`PhysicsStage::columns`]; [`measure`] does one object.
//!
//! How the pieces fit: [`prepare`] turns a camera-merged DESI spectrum (vacuum,
//! observed) into a rest-frame, air-wavelength spectrum on a ln λ grid with its
//! line-spread function; [`templates`] brings the SSPs to that grid and resolution
//! and into Fourier space; [`fit`] finds the LOSVDs, template weights, multiplicative
//! polynomial and gas fluxes ([`losvd`], [`linalg`], [`lines`]); the indices are then
//! measured on the spectrum minus the fitted gas emission.
//!
//! pPXF itself (Cappellari's code) is licensed for non-commercial use without
//! redistribution; it is used only as a comparison peer (`scripts/peers/ppxf_fit.py`).
#![deny(missing_docs)]

pub mod fit;
pub mod indices;
pub mod linalg;
pub mod lines;
pub mod losvd;
pub mod prepare;
mod stage;
pub mod templates;

pub use fit::{FitConfig, FitResult};
pub use stage::PhysicsStage;

use ard_core::eligibility::{Candidate, Fibre, Ineligible, Requirements};
use ard_core::StatusCode;
use ssp::SspLibrary;

use crate::indices::{Measured, RestSpectrum};

/// Why an object has no (or only partial) physics measurements: the `physics_status`
/// column's vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// Everything measured.
    Ok,
    /// Not fitted by the shared rule ([`ard_core::eligibility`]: redshift, ZWARN, SPECTYPE).
    Ineligible(Ineligible),
    /// The redshift is outside [`Z_RANGE`], or too little of the spectrum lies within
    /// the templates' rest-frame reach.
    RedshiftOutOfRange,
    /// No usable pixel.
    NoGoodPixels,
    /// The fit failed (why: in the manifest's notes); indices (if any) are on the
    /// spectrum without gas subtraction.
    FitFailed(String),
}

impl StatusCode for Status {
    fn code(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Ineligible(i) => i.code(),
            Status::RedshiftOutOfRange => "z_out_of_range",
            Status::NoGoodPixels => "no_good_pixels",
            Status::FitFailed(_) => "fit_failed",
        }
    }
    fn codes() -> Vec<&'static str> {
        let mut v = vec!["ok"];
        v.extend(Requirements::GALAXY.codes());
        v.extend(["z_out_of_range", "no_good_pixels", "fit_failed"]);
        v
    }
}

/// One object's input: the merged spectrum and its redshift row.
#[derive(Debug, Clone, Copy)]
pub struct ObjectInput<'a> {
    /// Observed vacuum wavelengths, Å.
    pub wave: &'a [f64],
    /// Flux, 1e-17 erg/s/cm²/Å.
    pub flux: &'a [f32],
    /// Inverse variance.
    pub ivar: &'a [f32],
    /// Mask (0 = good).
    pub mask: &'a [i32],
    /// Resolution diagonals (`ndiag × nwave`).
    pub resolution: &'a [f32],
    /// Number of diagonals.
    pub ndiag: usize,
    /// Redshift, if any.
    pub z: Option<f64>,
    /// Redrock SPECTYPE, if known.
    pub spectype: Option<&'a str>,
    /// Redrock ZWARN, if known.
    pub zwarn: Option<i64>,
    /// The fibre's FIBERMAP facts (science-fibre cut). [`ObjectInput::from_batch`]
    /// leaves them unknown (no cut); the stage sets them from the FIBERMAP.
    pub fibre: Fibre,
    /// Whether the coadd came with a redshift table ([`Candidate::redshift_file`]).
    pub redshift_file: bool,
}

impl<'a> ObjectInput<'a> {
    /// Object `i` of a camera-merged batch, with its redshift-row values.
    pub fn from_batch(batch: &'a ard_core::SpectrumBatch, i: usize, z: Option<f64>, spectype: Option<&'a str>, zwarn: Option<i64>) -> Self {
        ObjectInput {
            wave: &batch.wavelength,
            flux: batch.flux_of(i),
            ivar: batch.ivar_of(i),
            mask: batch.mask_of(i),
            resolution: batch.resolution_of(i),
            ndiag: batch.ndiag,
            z,
            spectype,
            zwarn,
            fibre: Fibre::default(),
            redshift_file: batch.redshifts.is_some(),
        }
    }
}

/// Everything measured for one object.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// Outcome.
    pub status: Status,
    /// Dn4000.
    pub dn4000: Option<Measured>,
    /// HδA, Å.
    pub hdelta_a: Option<Measured>,
    /// The full-spectrum fit.
    pub fit: Option<FitResult>,
    /// Index in the input's wavelength grid of the fit's first pixel (the fit sees only
    /// the pixels its templates reach: [`template_reach`]); the fit's linear-grid arrays
    /// ([`FitResult::model_linear`], …) start there.
    pub fit_start: usize,
}

impl Measurement {
    fn empty(status: Status) -> Self {
        Measurement { status, dn4000: None, hdelta_a: None, fit: None, fit_start: 0 }
    }
}

/// Redshifts the physics layer fits: DESI's galaxies, up to the ELGs' 1.6 ([OII] 3727
/// leaves the z camera at 1.63).
pub const Z_RANGE: std::ops::RangeInclusive<f64> = -0.01..=1.6;

/// Observed vacuum wavelengths (Å) whose rest-frame counterparts the templates reach at
/// redshift `z`, with the margins [`templates::prepare_templates`] needs: 30 Å for the
/// resolution kernel, the LOSVD's reach at the fit's bounds, and 8 pixels of 100 km/s.
pub fn template_reach(lib: &SspLibrary, cfg: &FitConfig, z: f64) -> std::ops::RangeInclusive<f64> {
    let reach = ((cfg.v_bound + 6.0 * cfg.sigma_bounds.1 + 800.0) / ard_core::cosmology::C_KM_S).exp();
    let (lo, hi) = (lib.wave[0] + 30.0, lib.wave[lib.wave.len() - 1] - 30.0);
    let to_obs = |w: f64| ard_core::wavelength::air_to_vacuum(w) * (1.0 + z);
    to_obs(lo * reach)..=to_obs(hi / reach)
}

/// An [`ObjectInput`]'s spectrum cut to a wavelength range (owned where it was cut).
struct TrimmedInput<'a> {
    wave: std::borrow::Cow<'a, [f64]>,
    flux: std::borrow::Cow<'a, [f32]>,
    ivar: std::borrow::Cow<'a, [f32]>,
    mask: std::borrow::Cow<'a, [i32]>,
    resolution: std::borrow::Cow<'a, [f32]>,
    ndiag: usize,
    /// Index of the first kept pixel in the input.
    start: usize,
}

impl<'a> TrimmedInput<'a> {
    /// The pixels of `obj` inside `range`; `None` when fewer than 100 remain.
    fn within(obj: &ObjectInput<'a>, range: std::ops::RangeInclusive<f64>) -> Option<Self> {
        use std::borrow::Cow;
        let n = obj.wave.len();
        let i0 = obj.wave.partition_point(|w| w < range.start());
        let i1 = obj.wave.partition_point(|w| w <= range.end());
        if i1 < i0 + 100 {
            return None;
        }
        if (i0, i1) == (0, n) || obj.resolution.len() != obj.ndiag * n {
            // Nothing to cut (or a shape `prepare` will report): borrow as given.
            return Some(TrimmedInput {
                wave: Cow::Borrowed(obj.wave),
                flux: Cow::Borrowed(obj.flux),
                ivar: Cow::Borrowed(obj.ivar),
                mask: Cow::Borrowed(obj.mask),
                resolution: Cow::Borrowed(obj.resolution),
                ndiag: obj.ndiag,
                start: 0,
            });
        }
        let cut = |v: &[f32]| v.get(i0..i1).map(<[f32]>::to_vec).unwrap_or_default();
        let resolution: Vec<f32> = (0..obj.ndiag).flat_map(|d| obj.resolution[d * n + i0..d * n + i1].iter().copied()).collect();
        Some(TrimmedInput {
            wave: Cow::Owned(obj.wave[i0..i1].to_vec()),
            flux: Cow::Owned(cut(obj.flux)),
            ivar: Cow::Owned(cut(obj.ivar)),
            mask: Cow::Owned(obj.mask.get(i0..i1).map(<[i32]>::to_vec).unwrap_or_default()),
            resolution: Cow::Owned(resolution),
            ndiag: obj.ndiag,
            start: i0,
        })
    }
}

/// Log pixels of template margin: the LOSVD's reach at the bounds of the fit.
fn margin_for(cfg: &FitConfig, velscale: f64) -> usize {
    ((cfg.v_bound + 6.0 * cfg.sigma_bounds.1) / velscale).ceil() as usize + 4
}

/// Measures one object (see the crate docs).
pub fn measure(lib: &SspLibrary, cfg: &FitConfig, obj: &ObjectInput) -> Measurement {
    let candidate =
        Candidate { fibre: obj.fibre, redshift_file: obj.redshift_file, z: obj.z, zwarn: obj.zwarn, spectype: obj.spectype, primary: None };
    let z = match candidate.check(Requirements::GALAXY) {
        Ok(z) => z,
        Err(why) => return Measurement::empty(Status::Ineligible(why)),
    };
    if !Z_RANGE.contains(&z) {
        return Measurement::empty(Status::RedshiftOutOfRange);
    }
    // Only the pixels the templates reach at this redshift are fitted (at z > 1.1 DESI's
    // blue end lies below E-MILES' 1680 Å in the rest frame: a z ≈ 1.3 ELG keeps its
    // [OII] and the continuum about it).
    let Some(obj) = TrimmedInput::within(obj, template_reach(lib, cfg, z)) else {
        return Measurement::empty(Status::RedshiftOutOfRange);
    };
    let spec = match prepare::prepare(&obj.wave, &obj.flux, &obj.ivar, &obj.mask, &obj.resolution, obj.ndiag, z) {
        Ok(s) => s,
        Err(prepare::PrepareProblem::NoGoodPixels) => return Measurement::empty(Status::NoGoodPixels),
        Err(prepare::PrepareProblem::Shape(s)) => return Measurement::empty(Status::FitFailed(s)),
    };
    let margin = margin_for(cfg, spec.velscale());
    let (status, fit) = match templates::prepare_templates(lib, &spec, margin) {
        Err(_) => return Measurement::empty(Status::RedshiftOutOfRange),
        Ok(tpl) => match fit::fit(&spec, &tpl, cfg) {
            Ok(f) => (Status::Ok, Some(f)),
            Err(fit::FitProblem::TooFewPixels(n)) => (Status::FitFailed(format!("only {n} usable pixels")), None),
            Err(fit::FitProblem::Singular) => (Status::FitFailed("singular covariance".into()), None),
        },
    };
    // Indices on the spectrum minus the fitted gas emission.
    let flux: Vec<f64> = match &fit {
        Some(f) => spec.lin_flux.iter().zip(&f.gas_model_linear).map(|(a, g)| a - g).collect(),
        None => spec.lin_flux.clone(),
    };
    let rest = RestSpectrum { edges: &spec.lin_edges, flux: &flux, var: &spec.lin_var, good: &spec.lin_good };
    Measurement { status, dn4000: indices::dn4000(&rest).ok(), hdelta_a: indices::hdelta_a(&rest).ok(), fit, fit_start: obj.start }
}

/// Median S/N per 0.8 Å pixel over rest-frame 4000–5500 Å (the definition):
/// median of flux·√ivar over good pixels, `None` when none is in range.
pub fn median_snr(wave_vac: &[f64], flux: &[f32], ivar: &[f32], mask: &[i32], z: f64) -> Option<f64> {
    let mut v: Vec<f64> = (0..wave_vac.len())
        .filter(|&i| {
            let rest = wave_vac[i] / (1.0 + z);
            (4000.0..=5500.0).contains(&rest) && ivar[i] > 0.0 && mask[i] == 0 && flux[i].is_finite()
        })
        .map(|i| flux[i] as f64 * (ivar[i] as f64).sqrt())
        .collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Some(v[v.len() / 2])
}
