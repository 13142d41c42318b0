//! Atomic file replacement: write beside the target under a temporary name, flush,
//! then `rename` (atomic on POSIX file systems), so a crash or `kill -9` leaves the old
//! file or the new one, never half of either.
//!
//! Several processes on several hosts may write into one ARD at once (a Slurm array on a
//! shared file system), so a temporary's name carries its writer's host and PID, and
//! clean-up never touches a temporary that may still be in use: [`remove_stale_temporaries`]
//! removes those whose writer was on this host and has exited, and
//! [`remove_temporaries_of`] those of targets the caller owns (its own pixels), whoever
//! left them. With a scratch folder ([`Staging`]), large outputs are built on node-local
//! disk and copied beside the target in one sequential write before the rename.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::StoreError;

const TMP_MARK: &str = ".tmp-desi-ard-";

/// This host's name as used in temporary names (letters, digits, `.`, `_` and `-`).
fn host_tag() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    let tag: String = raw.trim().chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
    if tag.is_empty() {
        "localhost".into()
    } else {
        tag
    }
}

/// The temporary path used while writing `target`: `.NAME.tmp-desi-ard-HOST-PID` beside it.
pub fn temporary_for(target: &Path) -> PathBuf {
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    target.with_file_name(format!(".{name}{TMP_MARK}{}-{}", host_tag(), std::process::id()))
}

/// Whether `path` is a temporary of this module; if so, the target it stands for and its
/// writer (host, PID) when the name says (names written before hosts were recorded do not).
pub fn parse_temporary(path: &Path) -> Option<(PathBuf, Writer)> {
    let name = path.file_name()?.to_str()?;
    let (head, tail) = name.split_once(TMP_MARK)?;
    let target = path.with_file_name(head.strip_prefix('.').unwrap_or(head));
    let writer = tail.rsplit_once('-').and_then(|(h, p)| Some((h.to_string(), p.parse().ok()?)));
    Some((target, writer))
}

/// Whether the writer of a temporary has certainly exited: it ran on this host and its
/// PID is gone (or the name predates writer tags). Unknown hosts count as alive.
fn writer_exited(writer: &Writer) -> bool {
    match writer {
        None => true,
        Some((host, pid)) => {
            if *host != host_tag() {
                return false;
            }
            if *pid == std::process::id() {
                return false;
            }
            let proc_root = Path::new("/proc");
            !proc_root.exists() || !proc_root.join(pid.to_string()).exists()
        }
    }
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

/// A temporary's writer: host and PID, when its name says.
type Writer = Option<(String, u32)>;

fn remove_temporaries_where(root: &Path, remove: &dyn Fn(&Path, &Writer) -> bool) -> std::io::Result<usize> {
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
            } else if let Some((target, writer)) = parse_temporary(&p) {
                if remove(&target, &writer) {
                    // Another clean-up may have taken it first.
                    match std::fs::remove_file(&p) {
                        Ok(()) => n += 1,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }
    Ok(n)
}

/// Removes, anywhere under `root`, the temporaries whose writer ran on this host and has
/// exited. Safe while other processes (here or on other hosts) are writing.
pub fn remove_stale_temporaries(root: &Path) -> std::io::Result<usize> {
    remove_temporaries_where(root, &|_, w| writer_exited(w))
}

/// Removes, anywhere under `root`, the temporaries of the targets `owned` accepts,
/// whichever host left them: for a caller that alone writes those targets (an ingest
/// shard and its pixels), anything left there is from a killed earlier run.
pub fn remove_temporaries_of(root: &Path, owned: &dyn Fn(&Path) -> bool) -> std::io::Result<usize> {
    remove_temporaries_where(root, &|t, w| owned(t) && w.as_ref().is_none_or(|(h, p)| *h != host_tag() || *p != std::process::id()))
}

/// Where large outputs are built before they are moved into place: beside the target,
/// or in a scratch folder on node-local disk (then copied beside the target in one
/// sequential write, and renamed).
#[derive(Debug, Clone, Default)]
pub struct Staging {
    /// Node-local scratch folder; `None` builds beside the target.
    pub scratch: Option<PathBuf>,
}

static STAGED: AtomicU64 = AtomicU64::new(0);

impl Staging {
    /// A path to build `target` at.
    pub fn path_for(&self, target: &Path) -> Result<PathBuf, StoreError> {
        match &self.scratch {
            None => Ok(temporary_for(target)),
            Some(dir) => {
                let dir = dir.join(format!("desi-ard-{}", std::process::id()));
                std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
                let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("out");
                Ok(dir.join(format!("{}-{name}", STAGED.fetch_add(1, Ordering::Relaxed))))
            }
        }
    }

    /// Moves a file built at `staged` (from [`Staging::path_for`]) onto `target` atomically.
    pub fn commit(&self, staged: &Path, target: &Path) -> Result<(), StoreError> {
        if self.scratch.is_none() {
            return commit(staged, target);
        }
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        }
        let tmp = temporary_for(target);
        std::fs::copy(staged, &tmp).map_err(|e| StoreError::io(&tmp, e))?;
        let _ = std::fs::remove_file(staged);
        commit(&tmp, target)
    }

    /// Removes this process's scratch folder (after a run).
    pub fn clean(&self) {
        if let Some(dir) = &self.scratch {
            let _ = std::fs::remove_dir_all(dir.join(format!("desi-ard-{}", std::process::id())));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_name_their_target_and_writer() {
        let t = temporary_for(Path::new("/a/b/Npix=5.parquet"));
        let (target, writer) = parse_temporary(&t).expect("a temporary");
        assert_eq!(target, Path::new("/a/b/Npix=5.parquet"));
        assert_eq!(writer, Some((host_tag(), std::process::id())));
        assert!(parse_temporary(Path::new("/a/b/Npix=5.parquet")).is_none());
        // The older form, without a host.
        let (target, writer) = parse_temporary(Path::new("/a/.x.json.tmp-desi-ard-77")).expect("old form");
        assert_eq!(target, Path::new("/a/x.json"));
        assert_eq!(writer, None);
    }

    #[test]
    fn clean_up_spares_live_writers_and_other_hosts() {
        let d = tempfile::tempdir().expect("tempdir");
        let root = d.path();
        let mine_live = temporary_for(&root.join("live.parquet"));
        // PID 0 never names a user process: an exited writer on this host.
        let dead = root.join(format!(".dead.parquet{TMP_MARK}{}-0", host_tag()));
        let other_host = root.join(format!(".far.parquet{TMP_MARK}some-other-node-1-{}", 4242));
        let old = root.join(format!(".old.parquet{TMP_MARK}99"));
        for p in [&mine_live, &dead, &other_host, &old] {
            std::fs::write(p, b"x").expect("write");
        }
        assert_eq!(remove_stale_temporaries(root).expect("sweep"), 2);
        assert!(mine_live.exists() && other_host.exists() && !dead.exists() && !old.exists());
        // A shard that owns far.parquet removes its leftovers, whoever wrote them.
        let n = remove_temporaries_of(root, &|t| t.file_name().is_some_and(|n| n == "far.parquet")).expect("owned");
        assert_eq!(n, 1);
        assert!(!other_host.exists() && mine_live.exists());
    }

    #[test]
    fn scratch_staging_moves_into_place() {
        let d = tempfile::tempdir().expect("tempdir");
        let scratch = d.path().join("scratch");
        let s = Staging { scratch: Some(scratch.clone()) };
        let target = d.path().join("ard/spectra/Npix=3.h5");
        let staged = s.path_for(&target).expect("path");
        assert!(staged.starts_with(&scratch));
        std::fs::write(&staged, b"spectra").expect("write");
        s.commit(&staged, &target).expect("commit");
        assert_eq!(std::fs::read(&target).expect("read"), b"spectra");
        assert!(!staged.exists());
        s.clean();
        assert!(!scratch.join(format!("desi-ard-{}", std::process::id())).exists());
    }
}
