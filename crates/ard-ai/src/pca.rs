//! The weight-free embedding `emb_pca`: classic eigenspectra.
//!
//! Every spectrum is moved to its rest frame, rebinned (flux-conserving) onto a fixed
//! logarithmic grid and divided by a running-median continuum, so that what remains is
//! the pattern of lines and absorption features, independent of redshift, brightness
//! and calibration tilt. A principal-component basis of such spectra (the
//! Karhunen–Loève eigenspectra of Connolly et al. 1995, AJ 110, 1071, as used on SDSS
//! galaxies by Yip et al. 2004, AJ 128, 585) is learned once from a deterministic
//! training subset ([`PcaModel::fit`]) and stored in the ARD; each object's embedding
//! is its vector of [`N_COMPONENTS`] coefficients on that basis.
//!
//! Masked pixels and the parts of the grid a spectrum does not reach are handled by
//! gappy PCA (Connolly & Szalay 1999, AJ 117, 2052): coefficients are the weighted
//! least-squares fit over the observed pixels only (their eq. 4–6), with inverse
//! variances as weights and, so that a spectrum covering little of the grid cannot
//! drive poorly constrained coefficients to large values, a Gaussian prior of the
//! component's eigenvalue on each coefficient (Tikhonov regularisation). During
//! training the gaps are repaired iteratively (Yip et al. 2004, §3.2): filled with the
//! mean, then with the reconstruction from the current basis, and the basis recomputed.
//!
//! The leading components are found by randomised subspace iteration (Halko, Martinsson
//! & Tropp 2011, SIAM Review 53, 217, algorithm 4.4) — exact to rounding for the top
//! components after a few power passes, and cheap, since only 32 of ~1000 are needed.
//! Everything is deterministic: a fixed seed for the random start, and every sum taken
//! in one fixed order whatever the number of threads, so a sharded ingest and a single
//! process learn (and use) bit-identical bases.

use std::path::Path;

use ard_core::linalg::{spd_solve, symmetric_eigen};
use rayon::prelude::*;
use safetensors::tensor::Dtype;
use sha2::{Digest, Sha256};

use crate::{AiError, Result};

/// File name of the model under the ARD's `models/`.
pub const MODEL_FILE: &str = "pca_eigenspectra.safetensors";
/// Embedding dimension (components kept).
pub const N_COMPONENTS: usize = 32;
/// log10 step of the rest-frame grid: 5 × 10⁻⁴ dex ≈ 345 km/s per pixel, coarse enough
/// that a line falls in one or two pixels whatever its width, fine enough to keep
/// [OIII] 4959/5007, Hα/[NII] and the Balmer series apart.
pub const DLOG10: f64 = 5e-4;
/// Rest-frame span the grid may take, Å (the model keeps the part its training covers).
pub const REST_RANGE: (f64, f64) = (900.0, 11_000.0);
/// Half-width of the running-median continuum, pixels (41 pixels ≈ 14,000 km/s: wide
/// against any line, narrow against the continuum shape).
pub const CONTINUUM_HALF_WINDOW: usize = 20;
/// A spectrum needs this many usable rest-frame pixels to be embedded.
pub const MIN_PIXELS: usize = 100;
/// Gap-repair iterations of the training.
pub const TRAIN_ITERATIONS: usize = 4;
/// Seed of the random start of the subspace iteration.
pub const SEED: u64 = 20_040_585;
const POWER_PASSES: usize = 4;
const OVERSAMPLE: usize = 10;
const FORMAT: &str = "desi-ard pca eigenspectra v1";

/// Number of pixels of the full rest-frame grid.
pub fn full_grid_len() -> usize {
    ((REST_RANGE.1 / REST_RANGE.0).log10() / DLOG10).floor() as usize
}

/// Edge `k` of the full rest-frame grid, Å.
pub fn grid_edge(k: usize) -> f64 {
    REST_RANGE.0 * 10f64.powf(k as f64 * DLOG10)
}

/// Why a spectrum got no embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// No finite redshift, or one below −0.01.
    NoRedshift,
    /// Fewer than [`MIN_PIXELS`] usable pixels on the model's grid.
    TooFewPixels,
}

impl Reject {
    /// Reason code for the status column.
    pub fn code(self) -> &'static str {
        match self {
            Reject::NoRedshift => "no_redshift",
            Reject::TooFewPixels => "too_few_pixels",
        }
    }
}

/// A continuum-normalised rest-frame spectrum on the full grid.
#[derive(Debug, Clone, PartialEq)]
pub struct RestFrame {
    /// Flux divided by the continuum.
    pub y: Vec<f64>,
    /// Inverse variance of `y`; 0 where the pixel is masked or not covered.
    pub weight: Vec<f64>,
}

impl RestFrame {
    /// Usable pixels.
    pub fn n_good(&self) -> usize {
        self.weight.iter().filter(|w| **w > 0.0).count()
    }
}

/// Moves one observed spectrum (vacuum wavelengths in Å, flux, ivar, mask) at redshift
/// `z` onto the full rest-frame grid and divides it by its continuum.
///
/// Rebinning conserves flux: each observed pixel's rest-frame interval is shared among
/// the grid pixels it overlaps in proportion to the overlap; masked pixels (mask ≠ 0,
/// ivar ≤ 0, non-finite flux) contribute nothing, and a grid pixel less than half
/// covered by good pixels is a gap. Variances follow the same weights. The continuum is
/// the running median of the good pixels over ±[`CONTINUUM_HALF_WINDOW`]; a pixel whose
/// continuum is not detected at 3σ is a gap (dividing by noise would only add noise).
pub fn rest_frame(wave: &[f64], flux: &[f32], ivar: &[f32], mask: &[i32], z: f64) -> std::result::Result<RestFrame, Reject> {
    if !z.is_finite() || z < -0.01 {
        return Err(Reject::NoRedshift);
    }
    let m = full_grid_len();
    let mut sum = vec![0.0; m];
    let mut cover = vec![0.0; m];
    let mut var = vec![0.0; m];
    let log0 = REST_RANGE.0.log10();
    let n = wave.len().min(flux.len()).min(ivar.len());
    for i in 0..n {
        let good = ivar[i] > 0.0 && flux[i].is_finite() && mask.get(i).is_none_or(|&b| b == 0);
        if !good {
            continue;
        }
        let lo =
            if i > 0 { 0.5 * (wave[i - 1] + wave[i]) } else { wave[0] - 0.5 * (wave.get(1).copied().unwrap_or(wave[0] + 1.0) - wave[0]) };
        let hi = if i + 1 < n { 0.5 * (wave[i] + wave[i + 1]) } else { wave[i] + 0.5 * (wave[i] - wave[i.saturating_sub(1)]) };
        let (a, b) = (lo / (1.0 + z), hi / (1.0 + z));
        if b <= REST_RANGE.0 || a >= grid_edge(m) {
            continue;
        }
        let f = flux[i] as f64;
        let s2 = 1.0 / ivar[i] as f64;
        let mut k = (((a.max(REST_RANGE.0)).log10() - log0) / DLOG10).floor().max(0.0) as usize;
        while k < m {
            let (e0, e1) = (grid_edge(k), grid_edge(k + 1));
            if e0 >= b {
                break;
            }
            let o = b.min(e1) - a.max(e0);
            if o > 0.0 {
                sum[k] += o * f;
                cover[k] += o;
                var[k] += o * o * s2;
            }
            k += 1;
        }
    }
    let mut f = vec![0.0; m];
    let mut v = vec![0.0; m];
    let mut good = vec![false; m];
    for k in 0..m {
        let width = grid_edge(k + 1) - grid_edge(k);
        if cover[k] >= 0.5 * width {
            f[k] = sum[k] / cover[k];
            v[k] = var[k] / (cover[k] * cover[k]);
            good[k] = v[k] > 0.0 && v[k].is_finite();
        }
    }
    let mut y = vec![0.0; m];
    let mut weight = vec![0.0; m];
    let mut window: Vec<f64> = Vec::with_capacity(2 * CONTINUUM_HALF_WINDOW + 1);
    for k in 0..m {
        if !good[k] {
            continue;
        }
        window.clear();
        let mut var_sum = 0.0;
        for j in k.saturating_sub(CONTINUUM_HALF_WINDOW)..(k + CONTINUUM_HALF_WINDOW + 1).min(m) {
            if good[j] {
                window.push(f[j]);
                var_sum += v[j];
            }
        }
        if window.len() < 10 {
            continue;
        }
        let nw = window.len();
        window.sort_by(f64::total_cmp);
        let c = if nw % 2 == 1 { window[nw / 2] } else { 0.5 * (window[nw / 2 - 1] + window[nw / 2]) };
        // Standard error of a median: 1.2533 σ/√n.
        let c_err = 1.2533 * (var_sum / nw as f64).sqrt() / (nw as f64).sqrt();
        if c > 3.0 * c_err && c > 0.0 {
            y[k] = f[k] / c;
            weight[k] = c * c / v[k];
        }
    }
    Ok(RestFrame { y, weight })
}

/// A learned eigenspectrum basis on part of the rest-frame grid.
#[derive(Debug, Clone, PartialEq)]
pub struct PcaModel {
    /// First pixel of the full grid the model covers.
    pub first: usize,
    /// Pixels covered.
    pub n_pixels: usize,
    /// Mean continuum-normalised spectrum.
    pub mean: Vec<f64>,
    /// Eigenspectra, row-major `N_COMPONENTS × n_pixels`, unit norm (rows beyond the
    /// training set's rank are zero).
    pub components: Vec<f64>,
    /// Variance along each component.
    pub eigenvalues: Vec<f64>,
    /// How many training spectra reached each pixel.
    pub coverage: Vec<u32>,
    /// TARGETIDs of the training spectra, in training order.
    pub training_targetid: Vec<i64>,
    /// How the training subset was chosen (recorded in the file).
    pub selection: String,
}

/// One training spectrum.
#[derive(Debug, Clone)]
pub struct TrainingSpectrum {
    /// Its TARGETID.
    pub targetid: i64,
    /// The prepared spectrum.
    pub rest: RestFrame,
}

impl PcaModel {
    /// Learns the basis from `training` (in the order given; the caller fixes it).
    /// The grid kept is the span where at least 2 % of the training spectra (and at
    /// least 2) have data.
    pub fn fit(training: &[TrainingSpectrum], selection: &str) -> Result<Self> {
        let n = training.len();
        if n < 2 {
            return Err(AiError::TooFewTraining { usable: n, needed: 2 });
        }
        let m = full_grid_len();
        let mut count = vec![0u32; m];
        for t in training {
            for (c, w) in count.iter_mut().zip(&t.rest.weight) {
                *c += u32::from(*w > 0.0);
            }
        }
        let need = ((0.02 * n as f64).ceil() as u32).max(2);
        let first = count.iter().position(|&c| c >= need).ok_or(AiError::NoCoverage { needed: need })?;
        let last = count.iter().rposition(|&c| c >= need).unwrap_or(first);
        let p = last + 1 - first;
        let k = N_COMPONENTS;
        // Observed values and weights on the kept grid; gaps filled with the mean.
        let y: Vec<&[f64]> = training.iter().map(|t| &t.rest.y[first..=last]).collect();
        let w: Vec<&[f64]> = training.iter().map(|t| &t.rest.weight[first..=last]).collect();
        let mean0: Vec<f64> = (0..p)
            .into_par_iter()
            .map(|j| {
                let (mut s, mut c) = (0.0, 0usize);
                for i in 0..n {
                    if w[i][j] > 0.0 {
                        s += y[i][j];
                        c += 1;
                    }
                }
                if c > 0 {
                    s / c as f64
                } else {
                    0.0
                }
            })
            .collect();
        let mut filled: Vec<Vec<f64>> = (0..n).map(|i| (0..p).map(|j| if w[i][j] > 0.0 { y[i][j] } else { mean0[j] }).collect()).collect();
        let mut model = PcaModel {
            first,
            n_pixels: p,
            mean: vec![],
            components: vec![],
            eigenvalues: vec![],
            coverage: count[first..=last].to_vec(),
            training_targetid: training.iter().map(|t| t.targetid).collect(),
            selection: selection.to_string(),
        };
        for iteration in 0..TRAIN_ITERATIONS {
            let mean = column_means(&filled, p);
            let (components, eigenvalues) = leading_components(&filled, &mean, k);
            model.mean = mean;
            model.components = components;
            model.eigenvalues = eigenvalues;
            if iteration + 1 == TRAIN_ITERATIONS {
                break;
            }
            filled.par_iter_mut().enumerate().for_each(|(i, row)| {
                if w[i].iter().all(|&x| x > 0.0) {
                    return;
                }
                let a = model.coefficients(y[i], w[i]);
                for j in 0..p {
                    if w[i][j] <= 0.0 {
                        row[j] = model.mean[j] + (0..k).map(|c| a[c] * model.components[c * p + j]).sum::<f64>();
                    }
                }
            });
        }
        Ok(model)
    }

    /// Rest-frame wavelengths of the model's pixel centres (geometric), Å.
    pub fn wavelength(&self) -> Vec<f64> {
        (self.first..self.first + self.n_pixels).map(|k| (grid_edge(k) * grid_edge(k + 1)).sqrt()).collect()
    }

    /// The gappy-PCA coefficients of `y` with weights `w` on the model grid (Connolly &
    /// Szalay 1999, eq. 4–6, plus the eigenvalue prior of the module docs).
    fn coefficients(&self, y: &[f64], w: &[f64]) -> Vec<f64> {
        let (p, k) = (self.n_pixels, N_COMPONENTS);
        let mut g = vec![0.0; k * k];
        let mut b = vec![0.0; k];
        let mut e = vec![0.0; k];
        for j in 0..p {
            if w[j] <= 0.0 {
                continue;
            }
            for c in 0..k {
                e[c] = self.components[c * p + j];
            }
            let r = y[j] - self.mean[j];
            for c in 0..k {
                let we = w[j] * e[c];
                b[c] += we * r;
                for d in 0..=c {
                    g[c * k + d] += we * e[d];
                }
            }
        }
        for c in 0..k {
            for d in 0..c {
                g[d * k + c] = g[c * k + d];
            }
            let lambda = self.eigenvalues[c];
            g[c * k + c] += if lambda > 0.0 { 1.0 / lambda } else { 1e12 };
        }
        spd_solve(&g, k, &b).unwrap_or_else(|| vec![0.0; k])
    }

    /// The embedding of one prepared spectrum: its [`N_COMPONENTS`] coefficients.
    pub fn project(&self, rest: &RestFrame) -> std::result::Result<Vec<f64>, Reject> {
        let range = self.first..self.first + self.n_pixels;
        let (y, w) = (&rest.y[range.clone()], &rest.weight[range]);
        if w.iter().filter(|x| **x > 0.0).count() < MIN_PIXELS {
            return Err(Reject::TooFewPixels);
        }
        Ok(self.coefficients(y, w))
    }

    /// The model as safetensors bytes (float64 tensors, metadata strings).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let f64_bytes = |v: &[f64]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
        let wave = self.wavelength();
        let coverage: Vec<u8> = self.coverage.iter().flat_map(|x| (*x as i64).to_le_bytes()).collect();
        let ids: Vec<u8> = self.training_targetid.iter().flat_map(|x| x.to_le_bytes()).collect();
        let buffers: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)> = vec![
            ("mean", Dtype::F64, vec![self.n_pixels], f64_bytes(&self.mean)),
            ("components", Dtype::F64, vec![N_COMPONENTS, self.n_pixels], f64_bytes(&self.components)),
            ("eigenvalues", Dtype::F64, vec![N_COMPONENTS], f64_bytes(&self.eigenvalues)),
            ("rest_wavelength", Dtype::F64, vec![self.n_pixels], f64_bytes(&wave)),
            ("coverage", Dtype::I64, vec![self.n_pixels], coverage),
            ("training_targetid", Dtype::I64, vec![self.training_targetid.len()], ids),
        ];
        let meta: Vec<(&str, String)> = vec![
            ("continuum_half_window", CONTINUUM_HALF_WINDOW.to_string()),
            ("first_pixel", self.first.to_string()),
            ("format", FORMAT.to_string()),
            ("grid", format!("rest-frame vacuum edges {} * 10^(k * {DLOG10}) Angstrom", REST_RANGE.0)),
            (
                "method",
                "gappy PCA eigenspectra (Connolly & Szalay 1999; Yip et al. 2004), randomised subspace iteration (Halko et al. 2011)"
                    .into(),
            ),
            ("n_components", N_COMPONENTS.to_string()),
            ("seed", SEED.to_string()),
            ("selection", self.selection.clone()),
            ("train_iterations", TRAIN_ITERATIONS.to_string()),
        ];
        Ok(safetensors_bytes(&buffers, &meta))
    }

    /// Reads a model written by [`PcaModel::to_bytes`].
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let bad = |m: String| AiError::Weights { path: path.to_path_buf(), message: m };
        let (_, meta) =
            safetensors::SafeTensors::read_metadata(bytes).map_err(|e| AiError::File { path: path.to_path_buf(), source: Box::new(e) })?;
        let meta = meta.metadata().clone().unwrap_or_default();
        if meta.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(bad(format!("not a {FORMAT} file")));
        }
        let get = |k: &str| -> Result<usize> {
            meta.get(k).and_then(|v| v.parse().ok()).ok_or_else(|| bad(format!("metadata {k} missing or not a number")))
        };
        if get("n_components")? != N_COMPONENTS || get("continuum_half_window")? != CONTINUUM_HALF_WINDOW {
            return Err(bad(
                "written by another version of the embedding (components or continuum differ); refit with --refit-models".into()
            ));
        }
        let st =
            safetensors::SafeTensors::deserialize(bytes).map_err(|e| AiError::File { path: path.to_path_buf(), source: Box::new(e) })?;
        let tensor = |name: &str, dt: Dtype| -> Result<Vec<[u8; 8]>> {
            let t = st.tensor(name).map_err(|e| crate::weights::decode_error(path, &format!("tensor {name}"), e))?;
            if t.dtype() != dt {
                return Err(bad(format!("tensor {name}: dtype {:?}, expected {dt:?}", t.dtype())));
            }
            Ok(t.data().chunks_exact(8).map(|c| c.try_into().unwrap_or([0; 8])).collect())
        };
        let f64s = |name: &str| -> Result<Vec<f64>> { Ok(tensor(name, Dtype::F64)?.into_iter().map(f64::from_le_bytes).collect()) };
        let i64s = |name: &str| -> Result<Vec<i64>> { Ok(tensor(name, Dtype::I64)?.into_iter().map(i64::from_le_bytes).collect()) };
        let mean = f64s("mean")?;
        let p = mean.len();
        let components = f64s("components")?;
        let eigenvalues = f64s("eigenvalues")?;
        let coverage: Vec<u32> = i64s("coverage")?.into_iter().map(|c| c.clamp(0, u32::MAX as i64) as u32).collect();
        let first = get("first_pixel")?;
        if components.len() != N_COMPONENTS * p || eigenvalues.len() != N_COMPONENTS || coverage.len() != p || first + p > full_grid_len() {
            return Err(bad(format!("inconsistent shapes: mean {p}, components {}, eigenvalues {}", components.len(), eigenvalues.len())));
        }
        Ok(PcaModel {
            first,
            n_pixels: p,
            mean,
            components,
            eigenvalues,
            coverage,
            training_targetid: i64s("training_targetid")?,
            selection: meta.get("selection").cloned().unwrap_or_default(),
        })
    }

    /// Loads `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| AiError::File { path: path.to_path_buf(), source: Box::new(e) })?;
        Self::from_bytes(&bytes, path)
    }

    /// A short hash of the serialised model (for the manifest: a new basis re-embeds).
    pub fn fingerprint(&self) -> String {
        let bytes = self.to_bytes().unwrap_or_default();
        format!("{:x}", Sha256::digest(&bytes))[..16].to_string()
    }
}

/// A safetensors file with its header written in one fixed order (tensors and metadata
/// keys sorted), so that the same model always gives the same bytes: the format's
/// reference writer orders metadata by hash-map iteration.
fn safetensors_bytes(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)], meta: &[(&str, String)]) -> Vec<u8> {
    let mut sorted: Vec<&(&str, Dtype, Vec<usize>, Vec<u8>)> = tensors.iter().collect();
    sorted.sort_by_key(|t| t.0);
    let mut meta: Vec<&(&str, String)> = meta.iter().collect();
    meta.sort_by_key(|m| m.0);
    let quote = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    let mut header = String::from("{\"__metadata__\":{");
    header.push_str(&meta.iter().map(|(k, v)| format!("{}:{}", quote(k), quote(v))).collect::<Vec<_>>().join(","));
    header.push('}');
    let mut offset = 0usize;
    for (name, dtype, shape, data) in &sorted {
        let dt = match dtype {
            Dtype::F64 => "F64",
            Dtype::I64 => "I64",
            _ => "F32",
        };
        let shape: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        header.push_str(&format!(
            ",{}:{{\"dtype\":\"{dt}\",\"shape\":[{}],\"data_offsets\":[{offset},{}]}}",
            quote(name),
            shape.join(","),
            offset + data.len()
        ));
        offset += data.len();
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for (_, _, _, data) in &sorted {
        out.extend_from_slice(data);
    }
    out
}

fn column_means(rows: &[Vec<f64>], p: usize) -> Vec<f64> {
    let n = rows.len() as f64;
    (0..p).into_par_iter().map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n).collect()
}

/// `(X − μ) · V` for `l` column vectors `v` of length p: an n × l result as columns.
fn times(rows: &[Vec<f64>], mean: &[f64], v: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let out: Vec<Vec<f64>> =
        rows.par_iter().map(|r| v.iter().map(|c| r.iter().zip(mean).zip(c).map(|((x, m), q)| (x - m) * q).sum()).collect()).collect();
    (0..v.len()).map(|c| out.iter().map(|row| row[c]).collect()).collect()
}

/// `(X − μ)ᵀ · Q` for `l` column vectors `q` of length n: a p × l result as columns.
/// Parallel over blocks of pixels, each summing the rows in order (deterministic).
fn times_transposed(rows: &[Vec<f64>], mean: &[f64], q: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let p = mean.len();
    let l = q.len();
    const BLOCK: usize = 32;
    let blocks: Vec<Vec<f64>> = (0..p.div_ceil(BLOCK))
        .into_par_iter()
        .map(|b| {
            let (j0, j1) = (b * BLOCK, ((b + 1) * BLOCK).min(p));
            let mut acc = vec![0.0; (j1 - j0) * l];
            for (i, r) in rows.iter().enumerate() {
                for j in j0..j1 {
                    let x = r[j] - mean[j];
                    for c in 0..l {
                        acc[(j - j0) * l + c] += x * q[c][i];
                    }
                }
            }
            acc
        })
        .collect();
    (0..l).map(|c| (0..p).map(|j| blocks[j / BLOCK][(j % BLOCK) * l + c]).collect()).collect()
}

/// Orthonormalises the columns in place (modified Gram–Schmidt, applied twice); a
/// column that is dependent on the previous ones becomes zero.
fn orthonormalise(cols: &mut [Vec<f64>]) {
    for _ in 0..2 {
        for c in 0..cols.len() {
            let (done, rest) = cols.split_at_mut(c);
            let v = &mut rest[0];
            for u in done.iter() {
                let d: f64 = u.iter().zip(v.iter()).map(|(a, b)| a * b).sum();
                for (x, a) in v.iter_mut().zip(u) {
                    *x -= d * a;
                }
            }
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            let scale = if norm > 1e-300 { 1.0 / norm } else { 0.0 };
            for x in v.iter_mut() {
                *x *= scale;
            }
        }
    }
}

/// The `k` leading principal components of the rows of `x` about `mean`: unit
/// eigenspectra (row-major k × p) and the variances along them.
fn leading_components(x: &[Vec<f64>], mean: &[f64], k: usize) -> (Vec<f64>, Vec<f64>) {
    let (n, p) = (x.len(), mean.len());
    let l = (k + OVERSAMPLE).min(n).min(p);
    let mut omega: Vec<Vec<f64>> = (0..l).map(|c| (0..p).map(|j| crate::prng::uniform(SEED, (c * p + j) as u64)).collect()).collect();
    orthonormalise(&mut omega);
    let mut q = times(x, mean, &omega);
    orthonormalise(&mut q);
    for _ in 0..POWER_PASSES {
        let mut z = times_transposed(x, mean, &q);
        orthonormalise(&mut z);
        q = times(x, mean, &z);
        orthonormalise(&mut q);
    }
    // B = Qᵀ(X − μ) is l × p; the right singular vectors of B are the eigenspectra.
    let bt = times_transposed(x, mean, &q);
    let mut gram = vec![0.0; l * l];
    for a in 0..l {
        for b in 0..=a {
            let s: f64 = bt[a].iter().zip(&bt[b]).map(|(u, v)| u * v).sum();
            gram[a * l + b] = s;
            gram[b * l + a] = s;
        }
    }
    let (values, vectors) = symmetric_eigen(&gram, l);
    let top = values.first().copied().unwrap_or(0.0).max(0.0);
    let mut components = vec![0.0; k * p];
    let mut eigenvalues = vec![0.0; k];
    for c in 0..k.min(l) {
        let s2 = values[c];
        if s2 <= 1e-20 * top || s2 <= 0.0 {
            continue;
        }
        let s = s2.sqrt();
        let u = &vectors[c * l..(c + 1) * l];
        let row = &mut components[c * p..(c + 1) * p];
        for (a, ua) in u.iter().enumerate() {
            for (r, v) in row.iter_mut().zip(&bt[a]) {
                *r += ua * v / s;
            }
        }
        // Fix the sign: the largest element positive.
        let big = row.iter().copied().fold(0.0f64, |m, v| if v.abs() > m.abs() { v } else { m });
        if big < 0.0 {
            row.iter_mut().for_each(|v| *v = -*v);
        }
        eigenvalues[c] = s2 / (n.max(2) - 1) as f64;
    }
    (components, eigenvalues)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wave() -> Vec<f64> {
        (0..7781).map(|i| 3600.0 + 0.8 * i as f64).collect()
    }

    /// A flat continuum with one Gaussian line at rest 5008.24 Å (vacuum [OIII]).
    fn spectrum(z: f64, amp: f64, noise: f64, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<i32>) {
        let w = wave();
        let flux = w
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                let x = (l / (1.0 + z) - 5008.24) / 2.0;
                (1.0 + amp * (-0.5 * x * x).exp() + noise * crate::prng::uniform(seed, i as u64)) as f32
            })
            .collect();
        (flux, vec![1.0 / (noise * noise).max(1e-6) as f32; w.len()], vec![0; w.len()])
    }

    #[test]
    fn rest_frame_puts_a_line_at_its_rest_wavelength_and_conserves_its_flux() {
        let w = wave();
        for z in [0.05, 0.3] {
            let (f, iv, m) = spectrum(z, 10.0, 0.0, 1);
            let r = rest_frame(&w, &f, &iv, &m, z).unwrap();
            let k = (0..full_grid_len()).max_by(|&a, &b| r.y[a].total_cmp(&r.y[b])).unwrap();
            assert!(grid_edge(k) <= 5008.24 && 5008.24 <= grid_edge(k + 2), "line at {} for z={z}", grid_edge(k));
            // Equivalent width: ∫(y − 1) dλ_rest = amp × √(2π) × 2 Å = 50.13 Å.
            let ew: f64 =
                (0..full_grid_len()).filter(|&j| r.weight[j] > 0.0).map(|j| (r.y[j] - 1.0) * (grid_edge(j + 1) - grid_edge(j))).sum();
            assert!((ew - 50.13).abs() < 0.5, "EW {ew} at z={z}");
        }
        assert_eq!(rest_frame(&w, &spectrum(0.1, 1.0, 0.0, 1).0, &spectrum(0.1, 1.0, 0.0, 1).1, &[], f64::NAN), Err(Reject::NoRedshift));
    }

    #[test]
    fn masked_and_zero_ivar_pixels_are_gaps() {
        let w = wave();
        let (f, mut iv, mut m) = spectrum(0.1, 0.0, 0.01, 2);
        for i in 2000..3000 {
            m[i] = 1;
        }
        for i in 4000..4500 {
            iv[i] = 0.0;
        }
        let r = rest_frame(&w, &f, &iv, &m, 0.1).unwrap();
        let full = rest_frame(&w, &f, &spectrum(0.1, 0.0, 0.01, 2).1, &vec![0; w.len()], 0.1).unwrap();
        let lost = full.n_good() - r.n_good();
        // 1500 observed pixels of 0.8 Å at z = 0.1 ≈ 1091 Å rest ≈ 190 grid pixels near 5000 Å.
        assert!((150..260).contains(&lost), "{lost}");
    }

    #[test]
    fn the_basis_follows_a_planted_line_family_observed_with_gaps() {
        // Spectra = mean + a·e1 + b·e2, each observed over a different rest range.
        let w = wave();
        let training: Vec<TrainingSpectrum> = (0..120)
            .map(|i| {
                let z = 0.02 + 0.004 * i as f64;
                let amp = 2.0 + 10.0 * crate::prng::uniform(7, i as u64).abs();
                let (f, iv, m) = spectrum(z, amp, 0.002, i as u64);
                TrainingSpectrum { targetid: i as i64, rest: rest_frame(&w, &f, &iv, &m, z).unwrap() }
            })
            .collect();
        let model = PcaModel::fit(&training, "all").unwrap();
        assert!(model.eigenvalues[0] > 100.0 * model.eigenvalues[2], "{:?}", &model.eigenvalues[..4]);
        let p = model.n_pixels;
        for c in 0..3 {
            let norm: f64 = model.components[c * p..(c + 1) * p].iter().map(|v| v * v).sum();
            assert!((norm - 1.0).abs() < 1e-9);
        }
        // Deterministic and round-trips through the file format bit for bit.
        let again = PcaModel::fit(&training, "all").unwrap();
        assert_eq!(model, again);
        let bytes = model.to_bytes().unwrap();
        let back = PcaModel::from_bytes(&bytes, Path::new("m")).unwrap();
        assert_eq!(model, back);
        assert_eq!(bytes, back.to_bytes().unwrap());
        assert!(PcaModel::from_bytes(&bytes[..bytes.len() - 8], Path::new("m")).is_err());
        // Objects with a stronger line project further along the first component.
        let proj = |amp: f64| {
            let (f, iv, m) = spectrum(0.2, amp, 0.002, 99);
            model.project(&rest_frame(&w, &f, &iv, &m, 0.2).unwrap()).unwrap()[0]
        };
        assert!(proj(12.0) > proj(6.0) && proj(6.0) > proj(2.0));
    }
}
