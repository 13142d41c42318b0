//! How many pixels are ingested at once: as many as the threads, unless the memory
//! really available says fewer.
//!
//! A pixel's spectra are read and computed a chunk at a time
//! ([`crate::DEFAULT_CHUNK_ROWS`]) and spilled to disk, so what one pixel worker holds
//! is bounded ([`PIXEL_WORKER_BYTES`], measured in `BENCHMARKS.md`) whatever the pixel's
//! size. The memory available is the smallest of the cgroup limits over the process's
//! cgroup and its ancestors (Slurm's `--mem`, a container's limit; cgroup v2
//! `memory.max` or v1 `memory.limit_in_bytes`), Slurm's grant where it sets no cgroup
//! (`SLURM_MEM_PER_NODE`, `SLURM_MEM_PER_CPU`) and the kernel's `MemAvailable`; the
//! caller's `--memory-limit` replaces it.
//!
//! The pixel workers are plain threads that hand each pixel to the shared rayon pool
//! ([`for_each_bounded`]): a rayon worker waiting inside a layer's parallel loop may
//! steal other rayon jobs, so pixels must not be rayon jobs, or one thread could hold
//! two pixels at once and the bound would not hold.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// What one pixel worker may hold at its peak (chunk arrays, the layers' working
/// memory, the catalogue columns of a large pixel, cfitsio's buffers), with margin over
/// the ≈ 0.5 GB measured on a 6,000-target pixel (BENCHMARKS.md). A gzip'd coadd is
/// inflated by cfitsio in memory whole, on top of this.
pub const PIXEL_WORKER_BYTES: u64 = 1 << 30;

/// Reads a size: bytes, or a number with K, M, G or T (powers of 1024, an optional
/// `B`/`iB`), e.g. `1500M`, `3G`, `2GiB`.
///
/// # Errors
/// A message naming what could not be read.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let upper = t.to_ascii_uppercase();
    let digits = upper.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &upper[digits.len()..];
    if digits.trim().is_empty() {
        return Err(format!("{text:?} is not a size (e.g. 1500M, 3G)"));
    }
    let scale: u64 = match unit.trim_end_matches("IB").trim_end_matches('B') {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (use K, M, G or T, e.g. 3G)")),
    };
    let value: f64 = digits.trim().parse().map_err(|_| format!("{text:?} is not a size (e.g. 1500M, 3G)"))?;
    if !(value.is_finite() && value > 0.0) {
        return Err(format!("{text:?}: a size must be positive"));
    }
    Ok((value * scale as f64) as u64)
}

/// `MemAvailable` of `/proc/meminfo`, bytes.
fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The limit a cgroup file states: `max` (v2) or a value near `i64::MAX` (v1) is none.
fn read_limit(file: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    let v: u64 = text.trim().parse().ok()?;
    (v < (1u64 << 60)).then_some(v)
}

/// The smallest memory limit over the cgroups this process is in and their ancestors.
fn cgroup_limit(proc_cgroup: &str, root: &Path) -> Option<u64> {
    let mut limits = Vec::new();
    for line in proc_cgroup.lines() {
        // hierarchy-ID:controllers:path — v2 has the empty controller list "0::/path".
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let (base, file) = if controllers.is_empty() {
            (root.to_path_buf(), "memory.max")
        } else if controllers.split(',').any(|c| c == "memory") {
            (root.join("memory"), "memory.limit_in_bytes")
        } else {
            continue;
        };
        let mut dir: PathBuf = base.join(path.trim_start_matches('/'));
        loop {
            limits.extend(read_limit(&dir.join(file)));
            if dir == base || !dir.pop() {
                break;
            }
        }
    }
    limits.into_iter().min()
}

/// What Slurm granted the job on this node when it does not enforce it with a cgroup:
/// `SLURM_MEM_PER_NODE` (MB), else `SLURM_MEM_PER_CPU` (MB) × `SLURM_CPUS_ON_NODE`.
fn slurm_grant(var: impl Fn(&str) -> Option<String>) -> Option<u64> {
    let mb = |name: &str| var(name).and_then(|v| v.trim().parse::<u64>().ok()).filter(|&v| v > 0);
    let per_node = mb("SLURM_MEM_PER_NODE");
    let per_cpu = mb("SLURM_MEM_PER_CPU").zip(mb("SLURM_CPUS_ON_NODE")).map(|(m, c)| m * c);
    per_node.or(per_cpu).map(|m| m << 20)
}

/// The memory this process may use: the smallest of the cgroup limit, Slurm's grant and
/// `MemAvailable`; `None` when none can be read (not Linux).
pub fn available_memory() -> Option<u64> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok().and_then(|t| cgroup_limit(&t, Path::new("/sys/fs/cgroup")));
    [cgroup, slurm_grant(|v| std::env::var(v).ok()), mem_available()].into_iter().flatten().min()
}

/// Pixels to ingest at once: `threads`, fewer when `memory` (the caller's limit, else
/// [`available_memory`]) holds fewer [`PIXEL_WORKER_BYTES`] workers, never fewer than one.
pub fn pixel_workers(threads: usize, memory: Option<u64>) -> usize {
    let threads = threads.max(1);
    match memory.or_else(available_memory) {
        Some(bytes) => ((bytes / PIXEL_WORKER_BYTES) as usize).clamp(1, threads),
        None => threads,
    }
}

/// Runs `work` on every item with at most `workers` items in progress at once, each
/// inside `pool` (whose threads the layers' parallel loops share); results in item order.
pub fn for_each_bounded<T: Sync, R: Send>(pool: &rayon::ThreadPool, workers: usize, items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|s| {
        for _ in 0..workers.clamp(1, items.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = pool.install(|| work(item));
                // A worker that panicked took its item with it; the others' results stand.
                done.lock().unwrap_or_else(|e| e.into_inner()).push((i, r));
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_slurm_and_free() {
        assert_eq!(parse_size("1500M"), Ok(1500 << 20));
        assert_eq!(parse_size("3G"), Ok(3 << 30));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("0.5g"), Ok(1 << 29));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("3X").unwrap_err().contains("unknown unit"));
        assert!(parse_size("lots").unwrap_err().contains("not a size"));
        assert!(parse_size("-1G").is_err());
    }

    #[test]
    fn workers_fit_the_memory() {
        assert_eq!(pixel_workers(16, Some(3 * PIXEL_WORKER_BYTES + 5)), 3);
        assert_eq!(pixel_workers(2, Some(100 * PIXEL_WORKER_BYTES)), 2);
        // Too little for one still runs one.
        assert_eq!(pixel_workers(8, Some(1 << 20)), 1);
    }

    #[test]
    fn cgroup_limits_are_found_up_the_tree() {
        let root = tempfile::tempdir().unwrap();
        let job = root.path().join("slurm/uid_0/job_7");
        std::fs::create_dir_all(job.join("step_0")).unwrap();
        std::fs::write(root.path().join("memory.max"), "max\n").unwrap();
        std::fs::write(job.join("memory.max"), "4294967296\n").unwrap();
        std::fs::write(job.join("step_0/memory.max"), "max\n").unwrap();
        // v2: the job's limit binds its step.
        assert_eq!(cgroup_limit("0::/slurm/uid_0/job_7/step_0\n", root.path()), Some(4 << 30));
        // v1: the memory controller's hierarchy; an unlimited one is no limit.
        let v1 = root.path().join("memory/docker/abc");
        std::fs::create_dir_all(&v1).unwrap();
        std::fs::write(v1.join("memory.limit_in_bytes"), "9223372036854771712\n").unwrap();
        assert_eq!(cgroup_limit("4:memory:/docker/abc\n3:cpu:/docker/abc\n", root.path()), None);
        std::fs::write(v1.join("memory.limit_in_bytes"), "2147483648\n").unwrap();
        assert_eq!(cgroup_limit("4:cpu,memory:/docker/abc\n", root.path()), Some(2 << 30));
        assert_eq!(cgroup_limit("", root.path()), None);
    }

    #[test]
    fn slurm_grants_are_read_in_megabytes() {
        let env =
            |pairs: &'static [(&'static str, &'static str)]| move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        assert_eq!(slurm_grant(env(&[("SLURM_MEM_PER_NODE", "36000")])), Some(36000 << 20));
        assert_eq!(slurm_grant(env(&[("SLURM_MEM_PER_CPU", "4000"), ("SLURM_CPUS_ON_NODE", "8")])), Some(32000 << 20));
        assert_eq!(slurm_grant(env(&[("SLURM_MEM_PER_CPU", "4000")])), None, "per CPU needs the CPU count");
        assert_eq!(slurm_grant(env(&[])), None);
    }

    #[test]
    fn bounded_runs_keep_item_order_and_the_bound() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let items: Vec<u32> = (0..40).collect();
        let out = for_each_bounded(&pool, 2, &items, |&i| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(2));
            running.fetch_sub(1, Ordering::SeqCst);
            i * 10
        });
        assert_eq!(out, items.iter().map(|i| i * 10).collect::<Vec<_>>());
        assert!(most.load(Ordering::SeqCst) <= 2, "at most 2 items at once, saw {}", most.load(Ordering::SeqCst));
        assert!(for_each_bounded(&pool, 3, &Vec::<u32>::new(), |&i| i).is_empty());
    }
}
