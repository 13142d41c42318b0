//! The physics layer as an ingest [`Stage`].

use ard_core::dust::{MilkyWay, CORRECTED};
use std::sync::Arc;

use ard_core::columns::{nullable_f64, nullable_i64, nullable_str};
use ard_core::names::{FIT_MASK, MODEL, MODEL_LINES};
use ard_core::names::{VEL_DISP, VEL_DISP_OK};
use ard_core::{status_spec, ColumnSpec, GridArraySpec, ObjectNote, SpectrumBatch, Stage, StageError, StageOutput, StatusCode};
use arrow_array::{ArrayRef, BooleanArray, Float32Array, Int32Array, StringArray};
use arrow_schema::DataType;
use rayon::prelude::*;
use ssp::SspLibrary;

use crate::fit::FitConfig;
use crate::lines::index_of;
use crate::{measure, Measurement, ObjectInput};

/// Runs [`measure`] on every object of a batch and writes the physics columns.
pub struct PhysicsStage {
    lib: Arc<SspLibrary>,
    cfg: FitConfig,
}

impl PhysicsStage {
    /// A stage with the given templates and fit settings.
    pub fn new(lib: Arc<SspLibrary>, cfg: FitConfig) -> Self {
        PhysicsStage { lib, cfg }
    }
}

/// Line columns: (column prefix, line name in [`crate::lines::GAS_LINES`], label).
const LINE_COLUMNS: [(&str, &str, &str); 4] = [
    ("h_alpha_flux", "Halpha", "Hα 6563"),
    ("h_beta_flux", "Hbeta", "Hβ 4861"),
    ("oiii_5007_flux", "[OIII]5007", "[OIII] 5007"),
    ("nii_6584_flux", "[NII]6583", "[NII] 6584"),
];

impl Stage for PhysicsStage {
    fn name(&self) -> &str {
        "physics"
    }

    fn version(&self) -> String {
        let c = &self.cfg;
        format!(
            "physics-{} mdegree={} gh={} clip={} v={} sigma={:?} start={:?} dchi2={} iter={} templates={}x{}",
            Self::VERSION,
            c.mdegree,
            c.gauss_hermite,
            c.clip_sigma,
            c.v_bound,
            c.sigma_bounds,
            c.start_sigma,
            c.min_dchi2_sigma,
            c.max_iter,
            self.lib.ages_gyr.len(),
            self.lib.metals.len()
        )
    }

    fn columns(&self) -> Vec<ColumnSpec> {
        Self::column_specs()
    }

    fn grid_arrays(&self) -> Vec<GridArraySpec> {
        Self::grid_array_specs()
    }

    fn compute(&self, batch: &SpectrumBatch) -> Result<StageOutput, StageError> {
        self.compute_columns(batch)
    }
}

impl PhysicsStage {
    /// Code version: bump it with any change to how the columns are computed (a bump
    /// re-runs every pixel; see `ard_ingest::pipeline::LAYERS`).
    pub const VERSION: u32 = 5;

    /// The columns this stage adds (also without templates, for `docs/schema.md`).
    pub fn column_specs() -> Vec<ColumnSpec> {
        let f = DataType::Float32;
        let mut v = vec![
            ColumnSpec::new("dn4000", f.clone(), "", &format!("4000 Å break, Balogh et al. 1999 narrow definition (uniform F_ν means, air), after subtracting the fitted gas model; {CORRECTED}")),
            ColumnSpec::new("dn4000_err", f.clone(), "", "1σ error of dn4000 from ivar"),
            ColumnSpec::new("hdelta_a", f.clone(), "Angstrom", &format!("HδA equivalent width, Worthey & Ottaviani 1997 (air bands), after subtracting the fitted gas model; {CORRECTED}")),
            ColumnSpec::new("hdelta_a_err", f.clone(), "Angstrom", "1σ error of hdelta_a from ivar"),
            ColumnSpec::new(VEL_DISP, f.clone(), "km/s", "stellar velocity dispersion, clean-room pPXF-style fit to E-MILES (resolution difference corrected in quadrature); trust only where vel_disp_ok"),
            ColumnSpec::new("vel_disp_err", f.clone(), "km/s", "formal 1σ error of vel_disp"),
            ColumnSpec::new(VEL_DISP_OK, DataType::Boolean, "", "vel_disp is constrained: Δχ² ≥ 25 against a fit without broadening and not at a bound"),
            ColumnSpec::new("v_gas", f.clone(), "km/s", "velocity of the Balmer emission lines (forbidden lines if no Balmer line is covered) relative to the redrock redshift"),
            ColumnSpec::new("v_gas_err", f.clone(), "km/s", "formal 1σ error of v_gas"),
        ];
        for (col, _, label) in LINE_COLUMNS {
            v.push(ColumnSpec::new(
                col,
                f.clone(),
                "1e-17 erg/s/cm2",
                &format!("{label} emission-line flux, observed frame, from the Gaussian gas template weight; {CORRECTED}"),
            ));
            v.push(ColumnSpec::new(&format!("{col}_err"), f.clone(), "1e-17 erg/s/cm2", &format!("formal 1σ error of the {label} flux")));
        }
        v.push(ColumnSpec::new(
            "fit_chi2_dof",
            f.clone(),
            "",
            &format!("χ²/fit_dof of the full-spectrum fit, on the brz pixels: Σ (flux − {MODEL})² · ivar over the pixels of {FIT_MASK} (the datasets of the pixel's spectra file)"),
        ));
        v.push(ColumnSpec::new(
            "fit_dof",
            DataType::Int32,
            "",
            &format!("degrees of freedom of fit_chi2_dof: pixels of {FIT_MASK} less the fitted parameters"),
        ));
        v.push(status_spec::<crate::Status>(
            "physics_status",
            "ok, or why the physics columns are null (fit_failed: the reason is in the manifest's notes)",
        ));
        v
    }

    /// The arrays this stage stores beside the spectra.
    pub fn grid_array_specs() -> Vec<GridArraySpec> {
        let flux_unit = "1e-17 erg/(s cm2 Angstrom)";
        let spec = |name: &str, unit: &str, description: &str, flag| GridArraySpec {
            name: name.into(),
            unit: unit.into(),
            description: description.into(),
            flag,
        };
        vec![
            spec(MODEL, flux_unit, "best-fitting model of the physics fit (stellar continuum × polynomial + emission lines), as observed (Milky-Way extinction put back), to a relative precision of 1.2e-4; NaN where the fit did not run or its templates do not reach", false),
            spec(MODEL_LINES, flux_unit, "the emission-line part of model alone, as observed; NaN like model", false),
            spec(FIT_MASK, "", "1 where the physics fit used the pixel (good, within the templates' reach, not clipped), else 0", true),
        ]
    }

    fn compute_columns(&self, batch: &SpectrumBatch) -> Result<StageOutput, StageError> {
        let n = batch.len();
        let (z, spectype, zwarn) = match &batch.redshifts {
            Some(rs) => (nullable_f64(rs, "Z"), nullable_str(rs, "SPECTYPE"), nullable_i64(rs, "ZWARN")),
            None => (None, None, None),
        };
        let fibres = batch.fibres();
        // Fitted on fluxes corrected for Milky-Way extinction, as fastspecfit does.
        let (milky_way, ebv) = (MilkyWay::new(&batch.wavelength), batch.ebv());
        let results: Vec<Measurement> = (0..n)
            .into_par_iter()
            .map(|i| {
                let (flux, ivar) = milky_way.correct(batch.flux_of(i), batch.ivar_of(i), ebv[i]);
                let obj = ObjectInput {
                    fibre: fibres[i],
                    flux: &flux,
                    ivar: &ivar,
                    ..ObjectInput::from_batch(
                        batch,
                        i,
                        z.as_ref().and_then(|c| c[i]),
                        spectype.as_ref().and_then(|c| c[i].as_deref()),
                        zwarn.as_ref().and_then(|c| c[i]),
                    )
                };
                measure(&self.lib, &self.cfg, &obj)
            })
            .collect();
        let f32s = |get: &dyn Fn(&Measurement) -> Option<f64>| -> ArrayRef {
            Arc::new(Float32Array::from(results.iter().map(|m| get(m).filter(|v| v.is_finite()).map(|v| v as f32)).collect::<Vec<_>>()))
        };
        let mut cols: Vec<ArrayRef> = vec![
            f32s(&|m| m.dn4000.map(|x| x.value)),
            f32s(&|m| m.dn4000.map(|x| x.err)),
            f32s(&|m| m.hdelta_a.map(|x| x.value)),
            f32s(&|m| m.hdelta_a.map(|x| x.err)),
            f32s(&|m| m.fit.as_ref().map(|f| f.sigma_star)),
            f32s(&|m| m.fit.as_ref().map(|f| f.sigma_star_err)),
            Arc::new(BooleanArray::from(results.iter().map(|m| m.fit.as_ref().map(|f| f.sigma_star_ok)).collect::<Vec<_>>())),
            f32s(&|m| m.fit.as_ref().and_then(|f| f.balmer.or(f.forbidden)).map(|k| k.v)),
            f32s(&|m| m.fit.as_ref().and_then(|f| f.balmer.or(f.forbidden)).map(|k| k.v_err)),
        ];
        for (_, name, _) in LINE_COLUMNS {
            let li = index_of(name);
            let find = move |m: &Measurement| m.fit.as_ref().and_then(|f| f.lines.iter().find(|l| Some(l.line) == li).copied());
            cols.push(f32s(&|m| find(m).map(|l| l.flux)));
            cols.push(f32s(&|m| find(m).map(|l| l.err)));
        }
        cols.push(f32s(&|m| m.fit.as_ref().map(|f| f.chi2_native / f.dof_native as f64)));
        cols.push(Arc::new(Int32Array::from(results.iter().map(|m| m.fit.as_ref().map(|f| f.dof_native as i32)).collect::<Vec<_>>())));
        cols.push(Arc::new(StringArray::from(results.iter().map(|m| m.status.code()).collect::<Vec<_>>())));
        let notes = results
            .iter()
            .enumerate()
            .filter_map(|(row, m)| match &m.status {
                crate::Status::FitFailed(why) => Some(ObjectNote { row, note: format!("fit failed: {why}") }),
                _ => None,
            })
            .collect();
        Ok(StageOutput { columns: cols, arrays: grid_arrays(batch, &milky_way, &ebv, &results), notes })
    }
}

/// Mantissa bits kept in the stored model: relative precision 2⁻¹³ ≈ 1.2e-4, far below
/// a pixel's noise (S/N 100 is 1e-2), while the zeroed low bytes let shuffle + deflate
/// store the model in about a third of flux's space (bit rounding, as in Klöwer et al.
/// 2021, Nature Computational Science 1, 713).
const MODEL_MANTISSA_BITS: u32 = 12;

/// `x` rounded to the nearest value with [`MODEL_MANTISSA_BITS`] mantissa bits.
fn keep_model_bits(x: f32) -> f32 {
    if !x.is_finite() {
        return x;
    }
    let drop = 23 - MODEL_MANTISSA_BITS;
    let bits = x.to_bits();
    let half = 1u32 << (drop - 1);
    f32::from_bits((bits + half) & !((1u32 << drop) - 1))
}

/// The model, line model and fit mask of every object on the batch's grid, row-major:
/// the fit's linear-grid arrays placed at its first pixel and reddened back by the
/// Milky-Way transmission the fit divided out.
fn grid_arrays(batch: &SpectrumBatch, milky_way: &MilkyWay, ebv: &[Option<f64>], results: &[Measurement]) -> Vec<Vec<f32>> {
    let nw = batch.wavelength.len();
    let mut model = vec![f32::NAN; results.len() * nw];
    let mut lines = vec![f32::NAN; results.len() * nw];
    let mut used = vec![0f32; results.len() * nw];
    for (row, m) in results.iter().enumerate() {
        let Some(fit) = &m.fit else { continue };
        let t = milky_way.transmission_of(ebv[row]);
        let at = row * nw + m.fit_start;
        for k in 0..fit.model_linear.len().min(nw - m.fit_start) {
            let tk = t.as_ref().map_or(1.0, |t| t[m.fit_start + k]);
            model[at + k] = keep_model_bits((fit.model_linear[k] * tk) as f32);
            lines[at + k] = keep_model_bits((fit.gas_model_linear[k] * tk) as f32);
            used[at + k] = if fit.used_linear[k] { 1.0 } else { 0.0 };
        }
    }
    vec![model, lines, used]
}

#[cfg(test)]
mod tests {
    use super::keep_model_bits;

    #[test]
    fn model_rounding_keeps_relative_precision() {
        for x in [1.0f32, 2.71301, -2.7e-3, 1234.567, 7.1e-20] {
            let r = keep_model_bits(x);
            assert!(((r - x) / x).abs() <= 2f32.powi(-13), "{x} -> {r}");
            assert_eq!(r.to_bits() & 0x7ff, 0, "{x}: low bits zeroed");
        }
        assert!(keep_model_bits(f32::NAN).is_nan());
        assert_eq!(keep_model_bits(0.0), 0.0);
    }
}
