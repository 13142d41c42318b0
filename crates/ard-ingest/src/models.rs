//! The models an ARD learns once from its own input and every pixel then shares: the
//! eigenspectrum basis of `emb_pca` (`models/pca_eigenspectra.safetensors`).
//!
//! The training subset depends only on the input tree, never on the shard or the
//! order files are read in: nside-64 pixels are taken in a fixed hashed order until
//! [`PCA_READ_TARGETS`] targets have been read, their ZWARN = 0 spectra of science fibres with enough
//! rest-frame coverage are ranked by a hash of (TARGETID, SURVEY, PROGRAM), and the first
//! [`PCA_TRAIN_MAX`] are kept. So `ingest --fit-models-only` run once before a Slurm
//! array (the cluster plan's first job), a shard that finds no model and fits its own,
//! and a single process all get the same bytes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// File name of the PCA basis in `ARD/models/`.
pub use ard_ai::pca::MODEL_FILE;
use ard_ai::pca::{rest_frame, PcaModel, TrainingSpectrum, MIN_PIXELS};
use ard_store::layout::ArdLayout;

use crate::{chunks, open_input, plan, read_chunk, stable_hash, IngestError, IngestOptions};

/// Most spectra the basis is learned from.
pub const PCA_TRAIN_MAX: usize = 10_000;
/// Targets read (whole pixels, in hashed order) to find the training spectra.
pub const PCA_READ_TARGETS: usize = 40_000;

/// What [`ensure_pca_model`] did.
#[derive(Debug, Clone)]
pub struct ModelReport {
    /// The model file.
    pub path: PathBuf,
    /// Whether it was learned now (else loaded).
    pub fitted: bool,
    /// Training spectra.
    pub n_train: usize,
    /// Pixels read for training (when fitted).
    pub pixels_read: usize,
    /// Wall time, s.
    pub seconds: f64,
}

fn object_key(targetid: i64, survey: &str, program: &str) -> u64 {
    let mut h = stable_hash(targetid as u64);
    for b in survey.bytes().chain([b'/']).chain(program.bytes()) {
        h = stable_hash(h ^ b as u64);
    }
    h
}

/// Loads the ARD's PCA basis, or learns and writes it when absent (or when `refit`).
/// `Ok(None)` when the input holds no spectrum to learn from (the column is then null).
pub fn ensure_pca_model(opts: &IngestOptions, refit: bool) -> Result<Option<(Arc<PcaModel>, ModelReport)>, IngestError> {
    let t0 = Instant::now();
    let layout = ArdLayout::new(&opts.ard);
    let path = layout.models().join(MODEL_FILE);
    if path.exists() && !refit {
        let model = PcaModel::load(&path).map_err(|e| IngestError::Model { path: path.clone(), source: Box::new(e) })?;
        let n_train = model.training_targetid.len();
        let report = ModelReport { path, fitted: false, n_train, pixels_read: 0, seconds: t0.elapsed().as_secs_f64() };
        return Ok(Some((Arc::new(model), report)));
    }
    let raw_root = opts.raw_root.canonicalize().map_err(|e| ard_store::StoreError::io(&opts.raw_root, e))?;
    let mut plan = plan(&raw_root)?;
    crate::choose_redshifts(&mut plan, &raw_root, opts.zcatalog.as_deref(), opts.no_zcatalog)?;
    let mut order: Vec<(u64, u64)> = plan.keys().map(|&p| (stable_hash(p), p)).collect();
    order.sort_unstable();
    let mut pixels = Vec::new();
    let mut read = 0usize;
    for (_, p) in order {
        if read >= PCA_READ_TARGETS {
            break;
        }
        read += plan[&p].iter().map(|i| i.n_targets).sum::<usize>();
        pixels.push(p);
    }
    let read_opts = desi_io::ReadOptions { survey: opts.survey.clone(), program: opts.program.clone() };
    let run_pixels: std::collections::BTreeSet<u64> = pixels.iter().copied().collect();
    let (pool, workers) = crate::pool_and_workers(opts)?;
    let per_pixel: Vec<Vec<(u64, TrainingSpectrum)>> = crate::memory::for_each_bounded(&pool, workers, &pixels, |&p| {
        let mut out = Vec::new();
        for inp in &plan[&p] {
            // An unreadable input is reported by the per-pixel pass; training skips it
            // whole, whatever the chunking (its spectra count once all are read).
            let Ok(mut reader) = open_input(p, inp, &read_opts, &run_pixels) else { continue };
            let mut of_input = Vec::new();
            let mut readable = true;
            for rows in chunks(reader.len(), opts.chunk_rows) {
                let Ok(r) = read_chunk(&mut reader, p, inp, rows) else {
                    readable = false;
                    break;
                };
                let b = &r.batch;
                let Some(rs) = &b.redshifts else { break };
                let z = ard_core::columns::nullable_f64(rs, "Z").unwrap_or_default();
                let zwarn = ard_core::columns::nullable_i64(rs, "ZWARN").unwrap_or_default();
                let fibres = b.fibres();
                for i in 0..b.len() {
                    // Sky and flagged fibres never shape the basis (the shared fibre cut).
                    if fibres[i].problem().is_some() {
                        continue;
                    }
                    let (Some(Some(zi)), Some(Some(0))) = (z.get(i), zwarn.get(i)) else { continue };
                    let Ok(rest) = rest_frame(&b.wavelength, b.flux_of(i), b.ivar_of(i), b.mask_of(i), *zi) else { continue };
                    if rest.n_good() >= MIN_PIXELS {
                        of_input
                            .push((object_key(b.targetid[i], &b.survey, &b.program), TrainingSpectrum { targetid: b.targetid[i], rest }));
                    }
                }
            }
            if readable {
                out.extend(of_input);
            }
        }
        out
    });
    let mut training: Vec<(u64, TrainingSpectrum)> = per_pixel.into_iter().flatten().collect();
    training.sort_by_key(|(k, t)| (*k, t.targetid));
    training.truncate(PCA_TRAIN_MAX);
    if training.len() < 2 {
        tracing::warn!("no spectra with ZWARN = 0 and enough coverage to learn the PCA basis from: emb_pca stays null");
        return Ok(None);
    }
    let training: Vec<TrainingSpectrum> = training.into_iter().map(|(_, t)| t).collect();
    let selection = format!(
        "ZWARN = 0 spectra of science fibres (OBJTYPE TGT, TARGETID >= 0, COADD_FIBERSTATUS = 0) with >= {MIN_PIXELS} usable rest-frame pixels from {} nside-64 pixels taken in hashed order until {PCA_READ_TARGETS} targets; the {} with the lowest hash of (TARGETID, SURVEY, PROGRAM), at most {PCA_TRAIN_MAX}",
        pixels.len(),
        training.len()
    );
    let model = PcaModel::fit(&training, &selection).map_err(|e| IngestError::Model { path: path.clone(), source: Box::new(e) })?;
    let bytes = model.to_bytes().map_err(|e| IngestError::Model { path: path.clone(), source: Box::new(e) })?;
    std::fs::create_dir_all(layout.models()).map_err(|e| ard_store::StoreError::io(&layout.models(), e))?;
    ard_store::atomic::write_atomic(&path, &bytes)?;
    let report =
        ModelReport { path, fitted: true, n_train: training.len(), pixels_read: pixels.len(), seconds: t0.elapsed().as_secs_f64() };
    Ok(Some((Arc::new(model), report)))
}

/// Adds the `emb_pca` stage to `opts.stages` (after the AstroCLIP stage, so the AI
/// layer's columns sit together), with the ARD's basis from [`ensure_pca_model`];
/// without a basis the stage writes nulls with `pca_status = no_model`.
pub fn add_pca_stage(opts: &mut IngestOptions, refit: bool) -> Result<Option<ModelReport>, IngestError> {
    let found = ensure_pca_model(opts, refit)?;
    let (model, report) = match found {
        Some((m, r)) => (Some(m), Some(r)),
        None => (None, None),
    };
    let at = opts.stages.iter().position(|s| s.name() == "astroclip").map_or(0, |i| i + 1);
    opts.stages.insert(at, Arc::new(ard_ai::PcaStage::new(model)));
    Ok(report)
}
