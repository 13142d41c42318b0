//! How a pixel changes: one version visible at a time, one rename to switch.
//!
//! A pixel's data is three files — its catalogue leaf, its spectra and its exposure
//! rows — and readers (desi-ard, lsdb, DuckDB, pyarrow) open the catalogue leaf at its
//! HATS path without consulting the manifest. Three renames at fixed paths cannot
//! change together, so only the catalogue leaf lives at a fixed path; the spectra and
//! exposures of a version are immutable files named by their content
//! (`spectra/Norder=6/Dir=D/Npix=P.v<ID>.h5`, `versions/exposures/Norder=6/Dir=D/Npix=P.v<ID>.parquet`)
//! and the leaf names them in its Parquet key-value metadata ([`PixelVersion`]).
//! [`commit_pixel`] writes the new version's files first (nothing references them yet),
//! then renames the new leaf into place — the single commit point — then writes the
//! manifest record, and only then removes the old version's files. A crash at any point
//! leaves the old leaf with its old files, or the new leaf with its new files, plus at
//! worst unreferenced files that [`remove_unreferenced_versions`] deletes on the next run.
//!
//! The HATS `exposures` table (`exposures/dataset/.../Npix=P.parquet`, for lsdb and
//! DuckDB) is published from the referenced versions by `finalize`, like the rest of the
//! HATS metadata; desi-ard's own `exposures` SQL table follows the leaves' references, so
//! it never joins a leaf with another version's exposures.
//!
//! Fault injection: with `DESI_ARD_ABORT_AFTER_FILE_OPS=n` in the environment the
//! process aborts (as a crash would: no clean-up, no destructors) right after the n-th
//! file operation of its pixel commits — the test of the protocol runs every n.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use arrow_array::RecordBatch;

use crate::atomic::{temporary_for, Staging};
use crate::layout::{pixel_relpath, ArdLayout};
use crate::manifest::{sha256_file, OutputRecord};
use crate::spectra::SpectraSpill;
use crate::StoreError;

/// Leaf metadata key: the version identifier of the pixel's spectra and exposures.
pub const KEY_VERSION: &str = "desi_ard.pixel_version";
/// Leaf metadata key: the spectra file, relative to the ARD root.
pub const KEY_SPECTRA: &str = "desi_ard.spectra";
/// Leaf metadata key: the exposures file, relative to the ARD root (absent: none).
pub const KEY_EXPOSURES: &str = "desi_ard.exposures";

/// The environment variable of the fault injection (see the module docs).
pub const ABORT_AFTER_ENV: &str = "DESI_ARD_ABORT_AFTER_FILE_OPS";

/// Which files a catalogue leaf belongs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PixelVersion {
    /// Content identifier (hex) of the spectra and exposures files; empty for a leaf
    /// written before versions existed.
    pub id: String,
    /// Spectra file, relative to the ARD root.
    pub spectra: String,
    /// Exposures file, relative to the ARD root, if the pixel has exposure rows.
    pub exposures: Option<String>,
}

impl PixelVersion {
    /// The files of version `id` of `pixel`.
    pub fn new(layout: &ArdLayout, pixel: u64, id: &str, has_exposures: bool) -> Self {
        PixelVersion {
            id: id.to_string(),
            spectra: layout.relative(&layout.spectra_version(pixel, id)),
            exposures: has_exposures.then(|| layout.relative(&layout.exposures_version(pixel, id))),
        }
    }

    /// A leaf without version keys (an ARD written before versions): the fixed paths.
    fn legacy(layout: &ArdLayout, pixel: u64) -> Self {
        let expo = layout.exposures_leaf(pixel);
        PixelVersion {
            id: String::new(),
            spectra: layout.relative(&layout.root.join("spectra").join(pixel_relpath(pixel, ".h5"))),
            exposures: expo.exists().then(|| layout.relative(&expo)),
        }
    }

    /// The key-value metadata the leaf carries.
    pub fn key_values(&self) -> Vec<(String, String)> {
        let mut kv = vec![(KEY_VERSION.to_string(), self.id.clone()), (KEY_SPECTRA.to_string(), self.spectra.clone())];
        if let Some(e) = &self.exposures {
            kv.push((KEY_EXPOSURES.to_string(), e.clone()));
        }
        kv
    }

    /// The version a leaf names, from its key-value metadata (`None` if it names none).
    pub fn from_key_values(kv: &[(String, String)]) -> Option<Self> {
        let get = |k: &str| kv.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        Some(PixelVersion { id: get(KEY_VERSION)?, spectra: get(KEY_SPECTRA)?, exposures: get(KEY_EXPOSURES) })
    }

    /// The version of `pixel`'s current catalogue leaf; `None` when there is no leaf.
    pub fn of_leaf(layout: &ArdLayout, pixel: u64) -> Result<Option<Self>, StoreError> {
        let leaf = layout.catalog_leaf(pixel);
        if !leaf.exists() {
            return Ok(None);
        }
        let kv = crate::catalog::read_key_values(&leaf)?;
        Ok(Some(Self::from_key_values(&kv).unwrap_or_else(|| Self::legacy(layout, pixel))))
    }

    /// Absolute path of the spectra file.
    pub fn spectra_path(&self, layout: &ArdLayout) -> PathBuf {
        layout.root.join(&self.spectra)
    }

    /// Absolute path of the exposures file, if any.
    pub fn exposures_path(&self, layout: &ArdLayout) -> Option<PathBuf> {
        self.exposures.as_ref().map(|e| layout.root.join(e))
    }
}

fn abort_after() -> Option<usize> {
    static LIMIT: OnceLock<Option<usize>> = OnceLock::new();
    *LIMIT.get_or_init(|| std::env::var(ABORT_AFTER_ENV).ok().and_then(|v| v.trim().parse().ok()))
}

static FILE_OPS: AtomicUsize = AtomicUsize::new(0);

/// Records one file operation of a commit; aborts the process after the n-th when the
/// fault injection asks for it.
fn file_operation(what: &str, path: &Path) {
    if let Some(limit) = abort_after() {
        let n = FILE_OPS.fetch_add(1, Ordering::SeqCst) + 1;
        if n == limit {
            eprintln!("fault injection ({ABORT_AFTER_ENV}={limit}): aborting after file operation {n}: {what} {}", path.display());
            std::process::abort();
        }
    }
}

/// What one version of a pixel holds.
pub struct PixelContent<'a> {
    /// The catalogue rows (already sorted by `_healpix_29`).
    pub catalog: &'a RecordBatch,
    /// The exposure rows, if any.
    pub exposures: Option<&'a RecordBatch>,
    /// The spectra.
    pub spectra: &'a SpectraSpill,
}

/// A committed version: what the leaf names, and the output records of its three files.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The version now visible.
    pub version: PixelVersion,
    /// Leaf, spectra and exposures files, sorted by path.
    pub outputs: Vec<OutputRecord>,
}

/// `manifest/unpublished`: present from a pixel's commit until [`mark_published`] (the
/// end of `finalize`), so that a run interrupted between the two still publishes the
/// HATS tables next time, even when every pixel is then unchanged.
pub fn unpublished_marker(layout: &ArdLayout) -> PathBuf {
    layout.manifest_dir().join("unpublished")
}

/// Whether a pixel was committed since the HATS tables were last published.
pub fn is_unpublished(layout: &ArdLayout) -> bool {
    unpublished_marker(layout).exists()
}

/// Records that the HATS tables describe every committed pixel (called by `finalize`).
pub fn mark_published(layout: &ArdLayout) -> Result<(), StoreError> {
    remove_if_present(&unpublished_marker(layout))
}

/// Creates the marker. Pixels commit on several threads at once and only the marker's
/// existence matters, so it is made with `create_new` (one creator wins, the others see
/// `AlreadyExists`) rather than by renaming a temporary, whose per-process name two
/// threads would share.
fn mark_unpublished(layout: &ArdLayout) -> Result<(), StoreError> {
    let marker = unpublished_marker(layout);
    if marker.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(layout.manifest_dir()).map_err(|e| StoreError::io(&layout.manifest_dir(), e))?;
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&marker) {
        Ok(mut f) => {
            use std::io::Write;
            f.write_all(b"a pixel was committed after the last finalize\n").map_err(|e| StoreError::io(&marker, e))?;
            f.sync_all().map_err(|e| StoreError::io(&marker, e))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::io(&marker, e)),
    }
}

/// Writes `content` as the new version of `pixel` and makes it visible (see the module
/// docs for the order and why). `record` is called after the leaf's rename with the
/// outputs, to write the manifest record; the old version's files are removed after it.
pub fn commit_pixel(
    layout: &ArdLayout,
    staging: &Staging,
    pixel: u64,
    content: &PixelContent,
    record: impl FnOnce(&[OutputRecord]) -> Result<(), StoreError>,
) -> Result<Committed, StoreError> {
    let old = PixelVersion::of_leaf(layout, pixel)?;
    mark_unpublished(layout)?;
    // 1. The version's files, under temporary names, then hashed to name them.
    let spectra_tmp = staging.path_for(&layout.spectra_version(pixel, "new"))?;
    content.spectra.write_sorted(&spectra_tmp)?;
    file_operation("wrote", &spectra_tmp);
    let spectra_hash = sha256_file(&spectra_tmp)?;
    let exposures_tmp = match content.exposures {
        Some(e) => {
            let t = staging.path_for(&layout.exposures_version(pixel, "new"))?;
            crate::catalog::write_parquet(&t, e)?;
            file_operation("wrote", &t);
            let h = sha256_file(&t)?;
            Some((t, h))
        }
        None => None,
    };
    let id = version_id(&spectra_hash, exposures_tmp.as_ref().map(|(_, h)| h.as_str()));
    let version = PixelVersion::new(layout, pixel, &id, exposures_tmp.is_some());
    let spectra_target = version.spectra_path(layout);
    let spectra_size = std::fs::metadata(&spectra_tmp).map_err(|e| StoreError::io(&spectra_tmp, e))?.len();
    staging.commit(&spectra_tmp, &spectra_target)?;
    file_operation("renamed", &spectra_target);
    let mut outputs = vec![OutputRecord { path: version.spectra.clone(), size: spectra_size, sha256: spectra_hash }];
    if let (Some((tmp, hash)), Some(target)) = (exposures_tmp, version.exposures_path(layout)) {
        let size = std::fs::metadata(&tmp).map_err(|e| StoreError::io(&tmp, e))?.len();
        staging.commit(&tmp, &target)?;
        file_operation("renamed", &target);
        outputs.push(OutputRecord { path: layout.relative(&target), size, sha256: hash });
    }
    // 2. The leaf naming them; its rename is the commit point.
    let leaf = layout.catalog_leaf(pixel);
    let leaf_tmp = staging.path_for(&leaf)?;
    crate::catalog::write_parquet_with_key_values(&leaf_tmp, content.catalog, &version.key_values())?;
    file_operation("wrote", &leaf_tmp);
    let leaf_size = std::fs::metadata(&leaf_tmp).map_err(|e| StoreError::io(&leaf_tmp, e))?.len();
    let leaf_hash = sha256_file(&leaf_tmp)?;
    staging.commit(&leaf_tmp, &leaf)?;
    file_operation("renamed", &leaf);
    outputs.push(OutputRecord { path: layout.relative(&leaf), size: leaf_size, sha256: leaf_hash });
    outputs.sort_by(|a, b| a.path.cmp(&b.path));
    // 3. The manifest record, then the old version's files (no reader can reach them now).
    record(&outputs)?;
    file_operation("recorded", &layout.manifest(pixel));
    if let Some(old) = old {
        let keep = [Some(version.spectra_path(layout)), version.exposures_path(layout)];
        for p in [Some(old.spectra_path(layout)), old.exposures_path(layout)].into_iter().flatten() {
            // A legacy leaf's exposures sit at the HATS path: finalize republishes it.
            if !keep.contains(&Some(p.clone())) && p != layout.exposures_leaf(pixel) {
                remove_if_present(&p)?;
                file_operation("removed", &p);
            }
        }
    }
    Ok(Committed { version, outputs })
}

/// The identifier of a version: the first 16 hex digits of SHA-256 over the hashes of
/// its spectra and exposures files (the same content gives the same names, so re-runs
/// and sharded runs write the same bytes).
fn version_id(spectra_sha: &str, exposures_sha: Option<&str>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(spectra_sha.as_bytes());
    h.update(b"|");
    h.update(exposures_sha.unwrap_or("").as_bytes());
    format!("{:x}", h.finalize())[..16].to_string()
}

fn remove_if_present(p: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io(p, e)),
    }
}

/// Every version file (spectra and exposures) on disk, by pixel.
pub fn version_files(layout: &ArdLayout) -> Result<std::collections::BTreeMap<u64, Vec<PathBuf>>, StoreError> {
    let mut out: std::collections::BTreeMap<u64, Vec<PathBuf>> = Default::default();
    for (dir, ext) in [(layout.root.join("spectra"), "h5"), (layout.exposures_versions(), "parquet")] {
        for (pixel, path) in crate::layout::list_pixel_files(&dir, ext).map_err(|e| StoreError::io(&dir, e))? {
            out.entry(pixel).or_default().push(path);
        }
    }
    Ok(out)
}

/// Removes the version files of the pixels `owned` accepts that their current leaf does
/// not name (left by a crash between a commit's steps, or by a failed pixel). Returns
/// how many were removed. Only for pixels this process alone writes.
pub fn remove_unreferenced_versions(layout: &ArdLayout, owned: &dyn Fn(u64) -> bool) -> Result<usize, StoreError> {
    let mut n = 0;
    for (pixel, files) in version_files(layout)? {
        if !owned(pixel) {
            continue;
        }
        let keep: Vec<PathBuf> = match PixelVersion::of_leaf(layout, pixel)? {
            Some(v) => [Some(v.spectra_path(layout)), v.exposures_path(layout)].into_iter().flatten().collect(),
            None => Vec::new(),
        };
        for f in files.iter().filter(|f| !keep.contains(f)) {
            remove_if_present(f)?;
            n += 1;
        }
    }
    Ok(n)
}

/// Withdraws `pixel`: its leaf first (so no reader finds it), then its version files
/// and its published exposures leaf.
pub fn withdraw_pixel(layout: &ArdLayout, pixel: u64) -> Result<(), StoreError> {
    remove_if_present(&layout.catalog_leaf(pixel))?;
    remove_unreferenced_versions(layout, &|p| p == pixel)?;
    remove_if_present(&layout.exposures_leaf(pixel))?;
    remove_if_present(&layout.root.join("spectra").join(pixel_relpath(pixel, ".h5")))
}

/// Publishes `pixel`'s exposures at the HATS path of the `exposures` table (a hard link
/// to the version file, or a copy where links are not supported), or removes the
/// published leaf when the version has none. Atomic per leaf.
pub fn publish_exposures(layout: &ArdLayout, pixel: u64, version: &PixelVersion) -> Result<(), StoreError> {
    let target = layout.exposures_leaf(pixel);
    let Some(src) = version.exposures_path(layout) else { return remove_if_present(&target) };
    if src == target {
        return Ok(()); // a legacy leaf: already there
    }
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    }
    let tmp = temporary_for(&target);
    remove_if_present(&tmp)?;
    if std::fs::hard_link(&src, &tmp).is_err() {
        std::fs::copy(&src, &tmp).map_err(|e| StoreError::io(&tmp, e))?;
    }
    crate::atomic::commit(&tmp, &target)?;
    // rename(2) of a hard link onto another link of the same file does nothing and
    // succeeds, leaving the temporary: the link was already published.
    remove_if_present(&tmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_round_trip() {
        let l = ArdLayout::new("/a");
        let v = PixelVersion::new(&l, 27247, "0123456789abcdef", true);
        assert_eq!(v.spectra, "spectra/Norder=6/Dir=20000/Npix=27247.v0123456789abcdef.h5");
        assert_eq!(v.exposures.as_deref(), Some("versions/exposures/Norder=6/Dir=20000/Npix=27247.v0123456789abcdef.parquet"));
        assert_eq!(PixelVersion::from_key_values(&v.key_values()), Some(v));
        let none = PixelVersion::new(&l, 5, "ff", false);
        assert_eq!(PixelVersion::from_key_values(&none.key_values()), Some(none));
        assert_eq!(PixelVersion::from_key_values(&[]), None);
    }

    #[test]
    fn version_ids_follow_content() {
        assert_eq!(version_id("a", Some("b")), version_id("a", Some("b")));
        assert_ne!(version_id("a", Some("b")), version_id("a", None));
        assert_eq!(version_id("a", None).len(), 16);
    }

    /// CI once failed a pixel with "manifest/unpublished: No such file" when two pixels
    /// committed together and raced on one temporary; every thread must succeed.
    #[test]
    fn concurrent_commits_all_mark_unpublished() {
        let dir = tempfile::tempdir().expect("temp dir");
        let layout = ArdLayout::new(dir.path());
        for _round in 0..20 {
            let results: Vec<_> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..8).map(|_| s.spawn(|| mark_unpublished(&layout))).collect();
                handles.into_iter().map(|h| h.join().expect("thread")).collect()
            });
            for r in results {
                assert!(r.is_ok(), "{r:?}");
            }
            assert!(is_unpublished(&layout));
            mark_published(&layout).expect("unmark");
            assert!(!is_unpublished(&layout));
        }
    }
}
