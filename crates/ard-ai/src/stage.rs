//! The AI layer as an ingest [`Stage`]: AstroCLIP embeddings as Float16 columns.

use std::sync::Arc;

use ard_core::eligibility::{Candidate, Ineligible, Requirements};
use ard_core::{status_spec, ColumnSpec, SpectrumBatch, Stage, StageError, StageOutput, StatusCode};
use arrow_array::builder::{FixedSizeListBuilder, Float16Builder};
use arrow_array::{ArrayRef, StringArray};
use arrow_schema::{DataType, Field};

use crate::model::SpectrumEncoder;

/// Spectra per forward pass.
pub const BATCH: usize = 32;

/// Code version of the AstroCLIP columns: bump it with any change to how they are
/// computed (a bump re-runs every pixel; see `ard_ingest::pipeline::LAYERS`).
pub const ASTROCLIP_VERSION: u32 = 2;
/// Code version of `emb_pca` (as [`ASTROCLIP_VERSION`]).
pub const PCA_VERSION: u32 = 3;

/// Writes `emb_astroclip` (1024 × f16) and `emb_specformer` (768 × f16), null for every
/// object when no weights were given (`astroclip_status` says why).
pub struct AstroclipStage {
    encoder: Option<SpectrumEncoder>,
    source: String,
}

impl AstroclipStage {
    /// A stage with an encoder (`source` names the weights, for the manifest), or
    /// without one (null columns).
    pub fn new(encoder: Option<SpectrumEncoder>, source: &str) -> Self {
        AstroclipStage { encoder, source: source.to_string() }
    }

    fn list_type(n: usize) -> DataType {
        DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float16, true)), n as i32)
    }

    /// The columns (also without weights, for `docs/schema.md`).
    pub fn column_specs() -> Vec<ColumnSpec> {
        vec![
            ColumnSpec::new(
                "emb_astroclip",
                Self::list_type(1024),
                "",
                "AstroCLIP spectrum embedding (Parker et al. 2024): SpecFormer + cross-attention head output, 1024 × float16, not normalised; null without --astroclip weights",
            ),
            ColumnSpec::new(
                "emb_specformer",
                Self::list_type(768),
                "",
                "mean of the AstroCLIP SpecFormer backbone tokens, 768 × float16 (the authors' embedding for property regression); null without weights",
            ),
            status_spec::<AstroclipStatus>("astroclip_status", "ok, or why the AstroCLIP columns are null for this object"),
        ]
    }
}

impl Stage for AstroclipStage {
    fn name(&self) -> &str {
        "astroclip"
    }

    fn version(&self) -> String {
        match &self.encoder {
            Some(e) => format!("astroclip-{ASTROCLIP_VERSION} {:?} {} weights={}", e.config(), e.dtype().as_str(), self.source),
            None => format!("astroclip-{ASTROCLIP_VERSION} no-weights"),
        }
    }

    fn columns(&self) -> Vec<ColumnSpec> {
        Self::column_specs()
    }

    fn compute(&self, batch: &SpectrumBatch) -> Result<StageOutput, StageError> {
        let n = batch.len();
        let stage_err = |m: String| StageError { stage: "astroclip".into(), message: m, source: None };
        let mut astro = FixedSizeListBuilder::with_capacity(Float16Builder::with_capacity(n * 1024), 1024, n);
        let mut spec = FixedSizeListBuilder::with_capacity(Float16Builder::with_capacity(n * 768), 768, n);
        let mut status = Vec::with_capacity(n);
        let null_row = |b: &mut FixedSizeListBuilder<Float16Builder>, dim: usize| {
            for _ in 0..dim {
                b.values().append_null();
            }
            b.append(false);
        };
        let Some(enc) = &self.encoder else {
            for _ in 0..n {
                null_row(&mut astro, 1024);
                null_row(&mut spec, 768);
                status.push(AstroclipStatus::NoWeights.code());
            }
            return Ok(vec![Arc::new(astro.finish()) as ArrayRef, Arc::new(spec.finish()), Arc::new(StringArray::from(status))].into());
        };
        let (da, ds) = (enc.config().head_dim, enc.config().embed_dim);
        if da != 1024 || ds != 768 {
            return Err(stage_err(format!("the catalogue columns are 1024/768-d; these weights give {da}/{ds}")));
        }
        let fibres = batch.fibres();
        let problem = |i: usize| {
            if let Some(why) = fibres[i].problem() {
                Some(AstroclipStatus::Fibre(why))
            } else if batch.nwave() != crate::preprocess::NPIX {
                Some(AstroclipStatus::NotBrzGrid)
            } else if !batch.flux_of(i).iter().all(|v| v.is_finite()) {
                Some(AstroclipStatus::NonFiniteFlux)
            } else {
                None
            }
        };
        for start in (0..n).step_by(BATCH) {
            let idx: Vec<usize> = (start..(start + BATCH).min(n)).collect();
            // Sky and flagged fibres are not embedded; one bad spectrum (wrong length,
            // non-finite flux) gets nulls, not the batch.
            let good: Vec<usize> = idx.iter().copied().filter(|&i| problem(i).is_none()).collect();
            let spectra: Vec<&[f32]> = good.iter().map(|&i| batch.flux_of(i)).collect();
            let out = enc.embed(&spectra).map_err(|e| StageError {
                stage: "astroclip".into(),
                message: format!("embedding rows {start}..{}", start + idx.len()),
                source: Some(Box::new(e)),
            })?;
            let mut k = 0;
            for &i in &idx {
                if good.get(k) == Some(&i) {
                    for v in &out.astroclip[k] {
                        astro.values().append_value(half::f16::from_f32(*v));
                    }
                    astro.append(true);
                    for v in &out.specformer[k] {
                        spec.values().append_value(half::f16::from_f32(*v));
                    }
                    spec.append(true);
                    status.push(AstroclipStatus::Ok.code());
                    k += 1;
                } else {
                    null_row(&mut astro, 1024);
                    null_row(&mut spec, 768);
                    status.push(problem(i).unwrap_or(AstroclipStatus::NonFiniteFlux).code());
                }
            }
        }
        Ok(vec![Arc::new(astro.finish()) as ArrayRef, Arc::new(spec.finish()), Arc::new(StringArray::from(status))].into())
    }
}

/// The `astroclip_status` vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AstroclipStatus {
    /// Embedded.
    Ok,
    /// No weights were given to ingest.
    NoWeights,
    /// Not a usable science fibre ([`ard_core::eligibility::Fibre`]: sky, unassigned,
    /// COADD_FIBERSTATUS ≠ 0). The embedding needs no redshift, so only the fibre
    /// checks of the shared rule apply.
    Fibre(Ineligible),
    /// The spectrum is not on the brz grid the encoder was trained on.
    NotBrzGrid,
    /// The flux has NaN or infinite pixels.
    NonFiniteFlux,
}

impl StatusCode for AstroclipStatus {
    fn code(&self) -> &'static str {
        match self {
            AstroclipStatus::Ok => "ok",
            AstroclipStatus::NoWeights => "no_weights",
            AstroclipStatus::Fibre(i) => i.code(),
            AstroclipStatus::NotBrzGrid => "not_brz_grid",
            AstroclipStatus::NonFiniteFlux => "non_finite_flux",
        }
    }
    fn codes() -> Vec<&'static str> {
        vec!["ok", "no_weights", Ineligible::NotScienceFibre.code(), Ineligible::BadFibre.code(), "not_brz_grid", "non_finite_flux"]
    }
}

/// The `pca_status` vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PcaStatus {
    /// Embedded.
    Ok,
    /// The ARD has no basis (nothing to learn it from).
    NoModel,
    /// Not embedded by the shared rule ([`ard_core::eligibility`]: redshift, ZWARN).
    Ineligible(Ineligible),
    /// Fewer than [`crate::pca::MIN_PIXELS`] usable pixels on the model's grid.
    TooFewPixels,
}

impl StatusCode for PcaStatus {
    fn code(&self) -> &'static str {
        match self {
            PcaStatus::Ok => "ok",
            PcaStatus::NoModel => "no_model",
            PcaStatus::Ineligible(i) => i.code(),
            PcaStatus::TooFewPixels => "too_few_pixels",
        }
    }
    fn codes() -> Vec<&'static str> {
        let mut v = vec!["ok", "no_model"];
        v.extend(Requirements::ANY.codes());
        v.push("too_few_pixels");
        v
    }
}

/// Writes `emb_pca` (the [`crate::pca::N_COMPONENTS`] eigenspectrum coefficients as
/// Float16) and `pca_status`, from a basis learned once per ARD.
pub struct PcaStage {
    model: Option<Arc<crate::pca::PcaModel>>,
    fingerprint: String,
}

impl PcaStage {
    /// A stage that projects on `model`, or writes nulls (`no_model`) without one.
    pub fn new(model: Option<Arc<crate::pca::PcaModel>>) -> Self {
        let fingerprint = model.as_ref().map(|m| m.fingerprint()).unwrap_or_else(|| "none".into());
        PcaStage { model, fingerprint }
    }

    /// The columns (for `docs/schema.md`).
    pub fn column_specs() -> Vec<ColumnSpec> {
        let k = crate::pca::N_COMPONENTS;
        vec![
            ColumnSpec::new(
                "emb_pca",
                AstroclipStage::list_type(k),
                "",
                &format!(
                    "weight-free embedding: {k} gappy-PCA coefficients (float16) of the rest-frame, continuum-normalised spectrum on the eigenspectra in models/{} (Yip et al. 2004); compare by cosine; {} (the running-median continuum normalisation removes its smooth curve)",
                    crate::pca::MODEL_FILE,
                    ard_core::dust::NOT_CORRECTED
                ),
            ),
            status_spec::<PcaStatus>("pca_status", "ok, or why emb_pca is null (too_few_pixels: on the model grid; no_model: nothing to learn the basis from)"),
        ]
    }
}

impl Stage for PcaStage {
    fn name(&self) -> &str {
        "pca"
    }

    fn version(&self) -> String {
        format!("pca-{PCA_VERSION} model={}", self.fingerprint)
    }

    fn columns(&self) -> Vec<ColumnSpec> {
        Self::column_specs()
    }

    fn compute(&self, batch: &SpectrumBatch) -> Result<StageOutput, StageError> {
        let n = batch.len();
        let k = crate::pca::N_COMPONENTS;
        let (z, zwarn) = match &batch.redshifts {
            Some(rs) => (ard_core::columns::nullable_f64(rs, "Z"), ard_core::columns::nullable_i64(rs, "ZWARN")),
            None => (None, None),
        };
        let mut emb = FixedSizeListBuilder::with_capacity(Float16Builder::with_capacity(n * k), k as i32, n);
        let mut status = Vec::with_capacity(n);
        let fibres = batch.fibres();
        for i in 0..n {
            let candidate = Candidate {
                fibre: fibres[i],
                redshift_file: batch.redshifts.is_some(),
                z: z.as_ref().and_then(|c| c[i]),
                zwarn: zwarn.as_ref().and_then(|c| c[i]),
                spectype: None,
                primary: None,
            };
            let outcome = match (&self.model, candidate.check(Requirements::ANY)) {
                (None, _) => Err(PcaStatus::NoModel),
                (_, Err(why)) => Err(PcaStatus::Ineligible(why)),
                (Some(model), Ok(zi)) => {
                    crate::pca::rest_frame(&batch.wavelength, batch.flux_of(i), batch.ivar_of(i), batch.mask_of(i), zi)
                        .and_then(|r| model.project(&r))
                        .map_err(|r| match r {
                            crate::pca::Reject::NoRedshift => PcaStatus::Ineligible(Ineligible::NoRedshift),
                            crate::pca::Reject::TooFewPixels => PcaStatus::TooFewPixels,
                        })
                }
            };
            match outcome {
                Ok(a) => {
                    for v in a {
                        emb.values().append_value(half::f16::from_f64(v));
                    }
                    emb.append(true);
                    status.push(PcaStatus::Ok.code());
                }
                Err(why) => {
                    for _ in 0..k {
                        emb.values().append_null();
                    }
                    emb.append(false);
                    status.push(why.code());
                }
            }
        }
        Ok(vec![Arc::new(emb.finish()) as ArrayRef, Arc::new(StringArray::from(status))].into())
    }
}
