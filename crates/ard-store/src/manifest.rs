//! The manifest: one JSON record per pixel saying which inputs made its outputs,
//! with which code and configuration, and whether it succeeded. It is written last,
//! after the pixel's data files are in place, so a record marked `done` always
//! describes complete outputs; ingest compares it with the inputs on disk to decide
//! what to (re)do, and `finalize` only publishes pixels whose outputs still match it.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::layout::ArdLayout;
use crate::StoreError;

/// An input file as it was when ingested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRecord {
    /// Absolute path.
    pub path: String,
    /// Size, bytes.
    pub size: u64,
    /// Modification time, ns since the epoch (a fast "unchanged" check).
    pub mtime_ns: u128,
    /// SHA-256 of the contents.
    pub sha256: String,
}

/// An output file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputRecord {
    /// Path relative to the ARD root.
    pub path: String,
    /// Size, bytes.
    pub size: u64,
    /// SHA-256 of the contents.
    pub sha256: String,
}

/// An object that was skipped or degraded, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectNote {
    /// TARGETID; 0 for a note about the whole file.
    pub targetid: i64,
    /// The input file it came from.
    pub file: String,
    /// What happened.
    pub note: String,
}

/// Outcome of a pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PixelStatus {
    /// Outputs written.
    Done,
    /// Outputs written from the inputs that could be read; the others are listed in
    /// [`PixelRecord::broken`]. A pixel holds several (survey, program) coadds, and one
    /// broken file never loses the others.
    Partial,
    /// The pixel failed; no outputs were published for it.
    Failed,
}

impl PixelStatus {
    /// Whether the pixel has published outputs (`done` or `partial`).
    pub fn published(self) -> bool {
        matches!(self, PixelStatus::Done | PixelStatus::Partial)
    }
}

/// One (survey, program) input of a pixel — a coadd and its redshift file — that could
/// not be ingested, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokenInput {
    /// The coadd.
    pub coadd: String,
    /// Its redrock partner, if any.
    pub redrock: Option<String>,
    /// The HDU at fault, when the error names one.
    pub hdu: Option<String>,
    /// What is wrong (the error and its causes, one line).
    pub reason: String,
}

/// The manifest record of one pixel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PixelRecord {
    /// nside-64 nested pixel.
    pub pixel: u64,
    /// Outcome.
    pub status: PixelStatus,
    /// Inputs, sorted by path.
    pub inputs: Vec<InputRecord>,
    /// Outputs, sorted by path.
    pub outputs: Vec<OutputRecord>,
    /// desi-ard version that wrote it.
    pub code_version: String,
    /// Fingerprint of the configuration and stage versions.
    pub config: String,
    /// The layers computed, as `name=version` (the stages' own version strings).
    #[serde(default)]
    pub layers: Vec<String>,
    /// Number of catalogue rows.
    pub n_rows: u64,
    /// Objects with notes (repaired, skipped).
    pub notes: Vec<ObjectNote>,
    /// The error of a failed pixel.
    pub error: Option<String>,
    /// The inputs left out of a `partial` pixel. Their files stay in `inputs` (size,
    /// mtime, hash), so that a change to one retries the pixel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub broken: Vec<BrokenInput>,
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String, StoreError> {
    let mut f = std::fs::File::open(path).map_err(|e| StoreError::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| StoreError::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:x}", h.finalize()))
}

fn mtime_ns(meta: &std::fs::Metadata) -> u128 {
    meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_nanos()).unwrap_or(0)
}

/// Describes an input file (hashing it). A file shared by many pixels (a zcatalog) is
/// hashed once per process: the hash is kept by (path, size, mtime).
pub fn input_record(path: &Path) -> Result<InputRecord, StoreError> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Key = (PathBuf, u64, u128);
    static HASHES: OnceLock<Mutex<HashMap<Key, String>>> = OnceLock::new();
    let meta = std::fs::metadata(path).map_err(|e| StoreError::io(path, e))?;
    let key = (path.to_path_buf(), meta.len(), mtime_ns(&meta));
    let cache = HASHES.get_or_init(Default::default);
    let known = cache.lock().ok().and_then(|c| c.get(&key).cloned());
    let sha256 = match known {
        Some(h) => h,
        None => {
            let h = sha256_file(path)?;
            if let Ok(mut c) = cache.lock() {
                c.insert(key, h.clone());
            }
            h
        }
    };
    Ok(InputRecord { path: path.to_string_lossy().into_owned(), size: meta.len(), mtime_ns: mtime_ns(&meta), sha256 })
}

/// Whether `path` still matches `rec`: same size and mtime, or else same hash.
pub fn input_unchanged(rec: &InputRecord) -> bool {
    let path = Path::new(&rec.path);
    let Ok(meta) = std::fs::metadata(path) else { return false };
    if meta.len() != rec.size {
        return false;
    }
    if mtime_ns(&meta) == rec.mtime_ns {
        return true;
    }
    sha256_file(path).map(|h| h == rec.sha256).unwrap_or(false)
}

/// Describes an output file.
pub fn output_record(layout: &ArdLayout, path: &Path) -> Result<OutputRecord, StoreError> {
    let meta = std::fs::metadata(path).map_err(|e| StoreError::io(path, e))?;
    Ok(OutputRecord { path: layout.relative(path), size: meta.len(), sha256: sha256_file(path)? })
}

impl PixelRecord {
    /// The version string of layer `name` in this record, if it was computed.
    pub fn layer_version(&self, name: &str) -> Option<&str> {
        self.layers.iter().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
    }

    /// Reads the record of `pixel`, if any.
    pub fn read(layout: &ArdLayout, pixel: u64) -> Result<Option<PixelRecord>, StoreError> {
        let p = layout.manifest(pixel);
        if !p.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&p).map_err(|e| StoreError::io(&p, e))?;
        serde_json::from_str(&text).map(Some).map_err(|source| StoreError::Corrupt { path: p, source })
    }

    /// Writes the record atomically.
    pub fn write(&self, layout: &ArdLayout) -> Result<(), StoreError> {
        let p = layout.manifest(self.pixel);
        let text = serde_json::to_vec_pretty(self).map_err(|source| StoreError::Corrupt { path: p.clone(), source })?;
        crate::atomic::write_atomic(&p, &text)
    }

    /// Whether every recorded output is on disk with its recorded size: the cheap check
    /// of the skip path (outputs only change through atomic renames followed by a new
    /// record, so a size mismatch means someone else touched them).
    pub fn outputs_present(&self, layout: &ArdLayout) -> bool {
        self.outputs.iter().all(|o| std::fs::metadata(layout.root.join(&o.path)).map(|m| m.len() == o.size).unwrap_or(false))
    }

    /// Whether the outputs on disk are still the ones recorded (size, then hash).
    pub fn outputs_intact(&self, layout: &ArdLayout) -> bool {
        self.outputs.iter().all(|o| {
            let p = layout.root.join(&o.path);
            std::fs::metadata(&p).map(|m| m.len() == o.size).unwrap_or(false) && sha256_file(&p).map(|h| h == o.sha256).unwrap_or(false)
        })
    }

    /// Every record in the ARD, sorted by pixel.
    pub fn all(layout: &ArdLayout) -> Result<Vec<PixelRecord>, StoreError> {
        let files =
            crate::layout::list_pixel_files(&layout.manifest_dir(), "json").map_err(|e| StoreError::io(&layout.manifest_dir(), e))?;
        let mut out = Vec::new();
        for (px, _) in files {
            if let Some(r) = PixelRecord::read(layout, px)? {
                out.push(r);
            }
        }
        Ok(out)
    }
}

/// Path of a manifest-relative file.
pub fn resolve(layout: &ArdLayout, rel: &str) -> PathBuf {
    layout.root.join(rel)
}
