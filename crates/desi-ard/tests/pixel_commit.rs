//! A pixel changes atomically (issue "One pipeline in a library…", item 4): an ingest
//! that re-writes a pixel is aborted, as a crash would, after its n-th file operation of
//! the commit, for every n (`DESI_ARD_ABORT_AFTER_FILE_OPS`); after each, a reader sees
//! the pixel whole in the old version or whole in the new one — catalogue leaf, spectra
//! and exposures — and a re-run completes it into exactly what an uninterrupted run
//! writes, with no file of another version left. Needs the E-MILES template file
//! (`scripts/setup.sh`) to simulate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use ard_store::pixel::{PixelVersion, ABORT_AFTER_ENV};
use ard_store::ArdLayout;

const PIXEL: u64 = 27245;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_desi-ard")
}

fn run(args: &[&str], env: &[(&str, String)]) -> (std::process::ExitStatus, String) {
    let mut c = Command::new(bin());
    c.args(args).env_remove(ABORT_AFTER_ENV);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("run desi-ard");
    (out.status, format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn simulate(out: &Path, seed: &str) {
    let (st, log) = run(&["simulate", out.to_str().unwrap(), "--objects", "40", "--pixels", "27245", "--seed", seed, "--quiet"], &[]);
    assert!(st.success(), "{log}");
}

fn ingest(raw: &Path, ard: &Path, env: &[(&str, String)]) -> (std::process::ExitStatus, String) {
    run(&["ingest", raw.to_str().unwrap(), ard.to_str().unwrap(), "--quiet", "--no-physics"], env)
}

fn copy_tree(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let q = to.join(p.file_name().unwrap());
        if p.is_dir() {
            std::fs::create_dir_all(&q).unwrap();
            copy_tree(&p, &q);
        } else {
            std::fs::copy(&p, &q).unwrap();
        }
    }
}

/// Every data file (catalogue, spectra, versions, HATS exposures) with its bytes,
/// properties without their creation date.
fn data_files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack: Vec<PathBuf> = ["catalog", "spectra", "versions", "exposures"].iter().map(|d| root.join(d)).collect();
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let mut bytes = std::fs::read(&p).unwrap();
            if p.to_string_lossy().ends_with("properties") {
                bytes =
                    String::from_utf8(bytes).unwrap().lines().filter(|l| !l.starts_with("hats_creation_date")).collect::<String>().into();
            }
            out.insert(p.strip_prefix(root).unwrap().to_string_lossy().into_owned(), bytes);
        }
    }
    out
}

/// The (targetid, survey, program) keys of a Parquet file.
fn keys_of(path: &Path) -> BTreeSet<(i64, String, String)> {
    let b = ard_store::catalog::read_parquet(path).unwrap();
    let ids = desi_io::columns::optional_i64(&b, "targetid").unwrap();
    let s = desi_io::columns::optional_str(&b, "survey").unwrap();
    let p = desi_io::columns::optional_str(&b, "program").unwrap();
    ids.into_iter().zip(s).zip(p).map(|((t, s), p)| (t, s, p)).collect()
}

/// What a reader sees of the pixel: the leaf's keys, after checking that the spectra
/// and exposures it names exist and hold exactly its rows' version.
fn visible_version(ard: &Path) -> BTreeSet<(i64, String, String)> {
    let layout = ArdLayout::new(ard);
    let version = PixelVersion::of_leaf(&layout, PIXEL).unwrap().expect("the pixel's leaf is always visible");
    let leaf = keys_of(&layout.catalog_leaf(PIXEL));
    let spectra: BTreeSet<_> = ard_store::spectra::read_keys(&version.spectra_path(&layout)).unwrap().into_iter().collect();
    assert_eq!(spectra, leaf, "the spectra named by the leaf are of another version");
    let exposures = keys_of(&version.exposures_path(&layout).expect("the simulator writes exposures"));
    assert!(!exposures.is_empty() && exposures.is_subset(&leaf), "the exposures named by the leaf are of another version");
    leaf
}

/// desi-ard's own reader: the catalogue ⋈ exposures join and a spectrum agree with the leaf.
fn reader_agrees(ard: &Path, leaf: &BTreeSet<(i64, String, String)>) {
    let a = ard.to_str().unwrap();
    let (st, out) = run(&["sql", a, "SELECT count(DISTINCT e.targetid) AS n, count(*) AS m FROM exposures e", "--format", "csv"], &[]);
    assert!(st.success(), "{out}");
    let (st, joined) =
        run(&["sql", a, "SELECT count(*) AS m FROM catalog c JOIN exposures e USING (targetid, survey, program)", "--format", "csv"], &[]);
    assert!(st.success(), "{joined}");
    // Every exposure row joins a catalogue row of the same version.
    let m_all: Vec<&str> = out.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(joined.lines().nth(1).unwrap().trim(), m_all[1].trim(), "exposures of another version: {out} / {joined}");
    let (t, s, p) = leaf.iter().next().unwrap();
    let (st, out) = run(&["spectrum", a, &t.to_string(), "--survey", s, "--program", p, "--format", "csv"], &[]);
    assert!(st.success() && out.lines().count() > 7000, "{out}");
}

#[test]
fn a_crash_at_any_step_of_a_commit_leaves_one_version_visible() {
    let work = tempfile::tempdir().unwrap();
    let (raw, other) = (work.path().join("raw"), work.path().join("other"));
    simulate(&raw, "5");
    simulate(&other, "6");
    // Version 1: the pixel from the first tree.
    let base = work.path().join("base");
    let (st, out) = ingest(&raw, &base, &[]);
    assert!(st.success(), "{out}");
    let old = visible_version(&base);
    // Version 2: the same files with the second tree's contents.
    for inp in desi_io::layout::discover(&raw).unwrap() {
        for p in [Some(&inp.coadd), inp.redrock.as_ref()].into_iter().flatten() {
            std::fs::copy(other.join(p.strip_prefix(&raw).unwrap()), p).unwrap();
        }
    }
    let reference = work.path().join("reference");
    std::fs::create_dir_all(&reference).unwrap();
    copy_tree(&base, &reference);
    let (st, out) = ingest(&raw, &reference, &[]);
    assert!(st.success() && out.contains("1 processed"), "{out}");
    let new = visible_version(&reference);
    assert_ne!(old, new, "the two versions must differ for the test to mean anything");
    let want = data_files(&reference);

    let mut aborted = 0;
    for n in 1..=40 {
        let ard = work.path().join(format!("crash-{n}"));
        std::fs::create_dir_all(&ard).unwrap();
        copy_tree(&base, &ard);
        let (st, out) = ingest(&raw, &ard, &[(ABORT_AFTER_ENV, n.to_string())]);
        if st.success() {
            // n is past the last file operation: the commit completed.
            assert_eq!(visible_version(&ard), new);
            break;
        }
        assert!(out.contains("fault injection") && st.code().is_none(), "n = {n}: not the injected crash:\n{out}");
        aborted += 1;
        let seen = visible_version(&ard);
        assert!(seen == old || seen == new, "n = {n}: a mixed pixel");
        reader_agrees(&ard, &seen);
        // A re-run finishes the work: the same files as an uninterrupted run, nothing else.
        let (st, out) = ingest(&raw, &ard, &[]);
        assert!(st.success(), "n = {n}: re-run failed:\n{out}");
        let got = data_files(&ard);
        assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "n = {n}: other files after the re-run");
        for (k, v) in &want {
            assert!(got[k] == *v, "n = {n}: {k} differs after the re-run");
        }
        let versions = ard_store::pixel::version_files(&ArdLayout::new(&ard)).unwrap();
        assert_eq!(versions[&PIXEL].len(), 2, "n = {n}: only the current spectra and exposures remain: {versions:?}");
    }
    // Spectra written + renamed, exposures written + renamed, leaf written + renamed,
    // manifest recorded, two old files removed.
    assert_eq!(aborted, 9, "the commit's file operations");
}
