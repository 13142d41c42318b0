//! A layer's code version enters the configuration fingerprint, so a bump re-runs its
//! pixels (`tests/stage.rs`); this test makes the bump impossible to forget: it hashes
//! each layer's sources (`pipeline::LAYERS[..].sources` and, for whole crates, their
//! workspace dependencies) and compares with `stage-versions.lock`. Sources changed
//! with the same version → failure, saying which version to bump. After a bump, refresh
//! the lock with `DESI_ARD_UPDATE_STAGE_LOCK=1 cargo test -p ard-ingest --test stage_versions`
//! (refused under CI=true: CI checks, it never rewrites). A refactor that provably
//! changes no output (e.g. bit-identical results before and after) may instead keep
//! the version: `DESI_ARD_UPDATE_STAGE_LOCK=refactor`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The workspace crates a crate depends on (its `[dependencies]`, not dev or build).
fn workspace_deps(root: &Path, krate: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root.join(krate).join("Cargo.toml")).unwrap();
    let mut in_deps = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_deps = l == "[dependencies]";
            continue;
        }
        if in_deps {
            if let Some((name, _)) = l.split_once('=') {
                let name = name.trim().trim_end_matches(".workspace").trim();
                if root.join("crates").join(name).join("Cargo.toml").exists() {
                    out.push(format!("crates/{name}"));
                }
            }
        }
    }
    out
}

/// Every `.rs` file (and Cargo.toml) of a source entry: a file, a module folder, or a
/// crate and its workspace dependencies.
fn files_of(root: &Path, entry: &str, into: &mut BTreeSet<PathBuf>) {
    let p = root.join(entry);
    if p.is_file() {
        into.insert(p);
        return;
    }
    if !p.join("Cargo.toml").exists() {
        // A module folder inside a crate: its sources only.
        rust_files(&p, into);
        return;
    }
    let mut crates = vec![entry.to_string()];
    let mut done = BTreeSet::new();
    while let Some(c) = crates.pop() {
        if !done.insert(c.clone()) {
            continue;
        }
        crates.extend(workspace_deps(root, &c));
        into.insert(root.join(&c).join("Cargo.toml"));
        rust_files(&root.join(&c).join("src"), into);
    }
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, into: &mut BTreeSet<PathBuf>) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let q = e.unwrap().path();
            if q.is_dir() {
                stack.push(q);
            } else if q.extension().is_some_and(|x| x == "rs") {
                into.insert(q);
            }
        }
    }
}

fn sources_hash(root: &Path, sources: &[&str]) -> String {
    let mut files = BTreeSet::new();
    for s in sources {
        files_of(root, s, &mut files);
    }
    let mut h = Sha256::new();
    for f in files {
        h.update(f.strip_prefix(root).unwrap().to_string_lossy().as_bytes());
        h.update([0]);
        h.update(std::fs::read(&f).unwrap());
        h.update([0]);
    }
    format!("{:x}", h.finalize())[..20].to_string()
}

#[test]
fn a_layer_whose_sources_changed_has_a_new_version() {
    let root = workspace();
    let lock_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("stage-versions.lock");
    let current: BTreeMap<&str, (u32, String)> =
        ard_ingest::pipeline::LAYERS.iter().map(|l| (l.name, (l.version, sources_hash(&root, l.sources)))).collect();
    let text = std::fs::read_to_string(&lock_path).unwrap_or_default();
    let locked: BTreeMap<String, (u32, String)> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_string(), (f[1].parse().unwrap(), f[2].to_string()))
        })
        .collect();
    let mut problems = Vec::new();
    for (name, (version, hash)) in &current {
        match locked.get(*name) {
            Some((v, h)) if v == version && h != hash => problems.push(format!(
                "layer {name}: its sources changed but its version is still {version}: bump it (pipeline::LAYERS says where) so that ARDs re-run it"
            )),
            Some((v, h)) if v == version && h == hash => {}
            _ => problems.push(format!("layer {name}: version {version} is not in stage-versions.lock")),
        }
    }
    if problems.is_empty() && locked.len() == current.len() {
        return;
    }
    // "1" records new versions; "refactor" also re-records changed sources under the same
    // version, for a change shown not to alter any output (say how in the commit).
    let update = std::env::var("DESI_ARD_UPDATE_STAGE_LOCK").unwrap_or_default();
    let stale_only = problems.iter().all(|p| p.contains("is not in"));
    let allowed = (update == "1" && stale_only) || update == "refactor";
    if allowed && !ard_testkit::under_ci() {
        let mut out = String::from(
            "# layer  version  sources (SHA-256 prefix): checked by tests/stage_versions.rs; refresh after a version bump with\n\
             # DESI_ARD_UPDATE_STAGE_LOCK=1 cargo test -p ard-ingest --test stage_versions\n",
        );
        for (name, (version, hash)) in &current {
            out.push_str(&format!("{name} {version} {hash}\n"));
        }
        std::fs::write(&lock_path, out).unwrap();
        return;
    }
    panic!(
        "{}\n(after bumping, refresh the lock: DESI_ARD_UPDATE_STAGE_LOCK=1 cargo test -p ard-ingest --test stage_versions)",
        problems.join("\n")
    );
}
