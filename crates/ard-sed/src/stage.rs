//! The SED fit as an ingest [`Stage`].

use ard_core::dust::{MilkyWay, CORRECTED};
use std::sync::Arc;

use ard_core::columns::{nullable_f64, nullable_i64, nullable_str};
use ard_core::cosmology::PLANCK18;
use ard_core::eligibility::{Candidate, Ineligible, Requirements};
use ard_core::names::{LOGM_P50, LOGSFR_P50, VEL_DISP, VEL_DISP_OK};
use ard_core::{status_spec, ColumnSpec, ObjectNote, SpectrumBatch, Stage, StageError, StageOutput, StatusCode};
use arrow_array::{ArrayRef, Float32Array, Int64Array, StringArray};
use arrow_schema::DataType;
use rayon::prelude::*;
use ssp::SspLibrary;

use crate::fit::{fit, SedConfig, SedResult};
use crate::model::{ObservedLibrary, Unfit};

/// Fits every galaxy of a batch and writes the SED columns.
pub struct SedStage {
    lib: Arc<SspLibrary>,
    cfg: SedConfig,
}

impl SedStage {
    /// A stage with the given templates and settings.
    pub fn new(lib: Arc<SspLibrary>, cfg: SedConfig) -> Self {
        SedStage { lib, cfg }
    }

    /// Code version: bump it with any change to how the columns are computed (a bump
    /// re-runs every pixel; see `ard_ingest::pipeline::LAYERS`).
    pub const VERSION: u32 = 6;

    /// The columns (for `docs/schema.md`).
    pub fn column_specs() -> Vec<ColumnSpec> {
        let f = DataType::Float32;
        let total = "total (fibre value × sed_aperture_ratio when that is known)";
        let mut v = Vec::new();
        for (p, name) in [("p16", "logm_p16"), ("p50", LOGM_P50), ("p84", "logm_p84")] {
            v.push(ColumnSpec::new(
                name,
                f.clone(),
                "log10 Msun",
                &format!("surviving stellar mass (stars + remnants), {p} of the posterior (p16/p84: half-widths ⊕ a {:.2} dex template-mismatch floor), {total}; E-MILES + delayed-tau SFH + Calzetti dust, nested sampling; {CORRECTED}", crate::SystematicFloor::default().log_mass),
            ));
        }
        for (p, name) in [("p16", "logsfr_p16"), ("p50", LOGSFR_P50), ("p84", "logsfr_p84")] {
            v.push(ColumnSpec::new(
                name,
                f.clone(),
                "log10 Msun/yr",
                &format!("mean SFR over the last 100 Myr, {p} of the posterior (p16/p84: half-widths ⊕ a {:.2} dex template-mismatch floor), {total}; floored at logm − 14; {CORRECTED}", crate::SystematicFloor::default().log_sfr),
            ));
        }
        v.push(ColumnSpec::new(
            "dust_av_p50",
            f.clone(),
            "mag",
            &format!("V-band attenuation (Calzetti 2000) in the galaxy, posterior median; {CORRECTED}"),
        ));
        v.push(ColumnSpec::new("age_p50", f.clone(), "Gyr", "surviving-mass-weighted stellar age, posterior median"));
        v.push(ColumnSpec::new("sed_logz", f.clone(), "", "ln evidence of the SED fit"));
        v.push(ColumnSpec::new("sed_ncall", DataType::Int64, "", "likelihood calls of the SED fit"));
        v.push(ColumnSpec::new(
            "sed_chi2_dof",
            f.clone(),
            "",
            "χ²/dof of the best-fitting SED model (noise scale 1, emission lines masked)",
        ));
        v.push(ColumnSpec::new(
            "sed_aperture_ratio",
            f.clone(),
            "",
            "FLUX_R / FIBERFLUX_R applied to mass and SFR; null when either flux is not positive",
        ));
        v.push(status_spec::<SedStatus>(
            "sed_status",
            "ok, ok_fibre_only (no aperture correction: FLUX_R or FIBERFLUX_R not positive), not_converged (the sampler reached its call budget before Δln Z < dlogz: the columns hold that unfinished posterior, not to be used as one), or why the SED columns are null (fit_failed: the reason is in the manifest's notes)",
        ));
        v
    }
}

/// The `sed_status` vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SedStatus {
    /// Fitted, mass and SFR aperture-corrected to the total flux.
    Ok,
    /// Fitted, in-fibre values only (FLUX_R or FIBERFLUX_R not positive).
    OkFibreOnly,
    /// The sampler stopped at its call budget before its evidence tolerance was met.
    NotConverged,
    /// Not fitted by the shared rule ([`ard_core::eligibility`]).
    Ineligible(Ineligible),
    /// The rest frame leaves the templates.
    RedshiftOutOfRange,
    /// Too few usable pixels.
    TooFewPixels,
    /// The fit failed (why: in the manifest's notes).
    FitFailed(String),
}

impl StatusCode for SedStatus {
    fn code(&self) -> &'static str {
        match self {
            SedStatus::Ok => "ok",
            SedStatus::OkFibreOnly => "ok_fibre_only",
            SedStatus::NotConverged => "not_converged",
            SedStatus::Ineligible(i) => i.code(),
            SedStatus::RedshiftOutOfRange => "z_out_of_range",
            SedStatus::TooFewPixels => "too_few_pixels",
            SedStatus::FitFailed(_) => "fit_failed",
        }
    }
    fn codes() -> Vec<&'static str> {
        let mut v = vec!["ok", "ok_fibre_only", "not_converged"];
        v.extend(Requirements::GALAXY.codes());
        v.extend(["z_out_of_range", "too_few_pixels", "fit_failed"]);
        v
    }
}

/// Outcome for one object.
struct Outcome {
    status: SedStatus,
    result: Option<SedResult>,
    aperture: Option<f64>,
}

impl Stage for SedStage {
    fn name(&self) -> &str {
        "sed"
    }

    fn version(&self) -> String {
        let c = &self.cfg;
        format!(
            "sed-{} nlive={} dlogz={} maxcalls={} walk={} sfh={:?} bc={} sigma={} floor={}/{} bin={} templates={}x{} cosmology=planck18",
            Self::VERSION,
            c.n_live,
            c.dlogz,
            c.max_calls,
            c.walk_steps,
            c.sfh,
            c.birth_cloud_factor,
            c.sigma_kms,
            c.systematic_floor.log_mass,
            c.systematic_floor.log_sfr,
            crate::model::PIXEL_BIN,
            self.lib.metals.len(),
            self.lib.ages_gyr.len()
        )
    }

    fn columns(&self) -> Vec<ColumnSpec> {
        Self::column_specs()
    }

    fn compute(&self, batch: &SpectrumBatch) -> Result<StageOutput, StageError> {
        self.compute_sigma(batch, &vec![None; batch.len()])
    }

    fn compute_with(&self, batch: &SpectrumBatch, earlier: &arrow_array::RecordBatch) -> Result<StageOutput, StageError> {
        // The physics layer's σ* where it is trusted (vel_disp_ok), else the default.
        let sigma = nullable_f64(earlier, VEL_DISP).unwrap_or_else(|| vec![None; batch.len()]);
        let ok = nullable_i64(earlier, VEL_DISP_OK).unwrap_or_else(|| vec![None; batch.len()]);
        let sigma: Vec<Option<f64>> = sigma.iter().zip(&ok).map(|(s, o)| if *o == Some(1) { *s } else { None }).collect();
        self.compute_sigma(batch, &sigma)
    }
}

/// Every row's total-to-fibre flux ratio (see [`aperture_ratio`]) from a FIBERMAP.
pub fn aperture_ratios(fibermap: &arrow_array::RecordBatch) -> Vec<Option<f64>> {
    let flux_r = nullable_f64(fibermap, "FLUX_R");
    let fiber_r = nullable_f64(fibermap, "FIBERFLUX_R");
    (0..fibermap.num_rows()).map(|i| aperture_ratio(flux_r.as_ref().and_then(|c| c[i]), fiber_r.as_ref().and_then(|c| c[i]))).collect()
}

/// Total-to-fibre flux ratio FLUX_R / FIBERFLUX_R, when both are positive (real
/// FIBERMAPs have zeros).
pub fn aperture_ratio(flux_r: Option<f64>, fiberflux_r: Option<f64>) -> Option<f64> {
    match (flux_r, fiberflux_r) {
        (Some(a), Some(b)) if a > 0.0 && b > 0.0 && a.is_finite() && b.is_finite() => Some(a / b),
        _ => None,
    }
}

impl SedStage {
    fn compute_sigma(&self, batch: &SpectrumBatch, sigma: &[Option<f64>]) -> Result<StageOutput, StageError> {
        let n = batch.len();
        let (z, spectype, zwarn) = match &batch.redshifts {
            Some(rs) => (nullable_f64(rs, "Z"), nullable_str(rs, "SPECTYPE"), nullable_i64(rs, "ZWARN")),
            None => (None, None, None),
        };
        let apertures = aperture_ratios(&batch.fibermap);
        let fibres = batch.fibres();
        // Fitted on fluxes corrected for Milky-Way extinction (the model has no MW dust).
        let (milky_way, ebv) = (MilkyWay::new(&batch.wavelength), batch.ebv());
        let outcomes: Vec<Outcome> = (0..n)
            .into_par_iter()
            .map(|i| {
                let fail = |status: SedStatus| Outcome { status, result: None, aperture: None };
                let candidate = Candidate {
                    fibre: fibres[i],
                    redshift_file: batch.redshifts.is_some(),
                    z: z.as_ref().and_then(|c| c[i]),
                    zwarn: zwarn.as_ref().and_then(|c| c[i]),
                    spectype: spectype.as_ref().and_then(|c| c[i].as_deref()),
                    primary: None,
                };
                let zi = match candidate.check(Requirements::GALAXY) {
                    Ok(z) => z,
                    Err(why) => return fail(SedStatus::Ineligible(why)),
                };
                let (flux, ivar) = milky_way.correct(batch.flux_of(i), batch.ivar_of(i), ebv[i]);
                let obs = match ObservedLibrary::new(
                    &self.lib,
                    &PLANCK18,
                    &batch.wavelength,
                    &flux,
                    &ivar,
                    batch.mask_of(i),
                    batch.resolution_of(i),
                    batch.ndiag,
                    zi,
                    sigma[i].filter(|s| s.is_finite() && *s > 0.0).unwrap_or(self.cfg.sigma_kms),
                ) {
                    Ok(o) => o,
                    Err(Unfit::Redshift) => return fail(SedStatus::RedshiftOutOfRange),
                    Err(Unfit::TooFewPixels) => return fail(SedStatus::TooFewPixels),
                };
                // Seeded by TARGETID: a re-run gives the same posterior.
                let seed = batch.targetid[i] as u64 ^ 0x5ED_F17;
                let aperture = apertures[i];
                match fit(&obs, &PLANCK18, zi, &self.cfg, seed, aperture.map_or(0.0, f64::log10)) {
                    Ok(r) => Outcome {
                        status: match (r.converged, aperture) {
                            (false, _) => SedStatus::NotConverged,
                            (true, Some(_)) => SedStatus::Ok,
                            (true, None) => SedStatus::OkFibreOnly,
                        },
                        result: Some(r),
                        aperture,
                    },
                    Err(e) => fail(SedStatus::FitFailed(e.to_string())),
                }
            })
            .collect();
        let f32s = |get: &dyn Fn(&Outcome) -> Option<f64>| -> ArrayRef {
            Arc::new(Float32Array::from(outcomes.iter().map(|o| get(o).filter(|v| v.is_finite()).map(|v| v as f32)).collect::<Vec<_>>()))
        };
        let shift = |o: &Outcome| o.aperture.map_or(0.0, f64::log10);
        let mut cols: Vec<ArrayRef> = Vec::new();
        let floor = &self.cfg.systematic_floor;
        for k in 0..3 {
            cols.push(f32s(&|o| o.result.as_ref().map(|r| r.log_mass_stored(floor)[k] + shift(o))));
        }
        for k in 0..3 {
            cols.push(f32s(&|o| o.result.as_ref().map(|r| r.log_sfr_stored(floor)[k] + shift(o))));
        }
        cols.push(f32s(&|o| o.result.as_ref().map(|r| r.av_p50)));
        cols.push(f32s(&|o| o.result.as_ref().map(|r| r.age_p50)));
        cols.push(f32s(&|o| o.result.as_ref().map(|r| r.log_z)));
        cols.push(Arc::new(Int64Array::from(outcomes.iter().map(|o| o.result.as_ref().map(|r| r.n_calls as i64)).collect::<Vec<_>>())));
        cols.push(f32s(&|o| o.result.as_ref().map(|r| r.chi2_dof)));
        cols.push(f32s(&|o| o.aperture));
        cols.push(Arc::new(StringArray::from(outcomes.iter().map(|o| o.status.code()).collect::<Vec<_>>())));
        let notes = outcomes
            .iter()
            .enumerate()
            .filter_map(|(row, o)| match &o.status {
                SedStatus::FitFailed(why) => Some(ObjectNote { row, note: format!("fit failed: {why}") }),
                SedStatus::NotConverged => o.result.as_ref().map(|r| ObjectNote {
                    row,
                    note: format!("SED sampler stopped after {} likelihood calls before Δln Z < {}", r.n_calls, self.cfg.dlogz),
                }),
                _ => None,
            })
            .collect();
        Ok(StageOutput { columns: cols, arrays: Vec::new(), notes })
    }
}
