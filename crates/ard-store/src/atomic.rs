//! Atomic file replacement: write beside the target under a temporary name, flush,
//! then `rename` (atomic on POSIX file systems), so a crash or `kill -9` leaves the old
//! file or the new one, never half of either. Stale temporaries from a killed run are
//! removed by [`remove_stale_temporaries`].

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::StoreError;

const TMP_MARK: &str = ".tmp-desi-ard-";

/// The temporary path used while writing `target`.
pub fn temporary_for(target: &Path) -> PathBuf {
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    target.with_file_name(format!(".{name}{TMP_MARK}{}", std::process::id()))
}

/// Renames `tmp` onto `target` after syncing it.
pub fn commit(tmp: &Path, target: &Path) -> Result<(), StoreError> {
    if let Ok(f) = File::open(tmp) {
        f.sync_all().map_err(|e| StoreError::io(tmp, e))?;
    }
    std::fs::rename(tmp, target).map_err(|e| StoreError::io(target, e))?;
    if let Some(dir) = target.parent() {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Writes `bytes` to `target` atomically, creating parent folders.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    }
    let tmp = temporary_for(target);
    let mut f = File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| StoreError::io(&tmp, e))?;
    drop(f);
    commit(&tmp, target)
}

/// Removes temporaries left by killed runs anywhere under `root`.
pub fn remove_stale_temporaries(root: &Path) -> std::io::Result<usize> {
    let mut n = 0;
    if !root.exists() {
        return Ok(0);
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.contains(TMP_MARK)) {
                std::fs::remove_file(&p)?;
                n += 1;
            }
        }
    }
    Ok(n)
}
