//! Issue 16, item 1 ("Objects"): the independent mock holds stars and QSOs, and every layer
//! that models galaxies refuses them end to end — `desi-ard simulate --library bc03`, then
//! `ingest` and `topology` exactly as a user runs them. redrock's SPECTYPE decides
//! (`not_galaxy`), never the fit; the embedding, which any spectrum may have, still runs.
//! Also: the MaStar library the mock can be built from instead of BC03.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_desi-ard")).args(args).output().expect("run desi-ard");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "desi-ard {}: {text}", args.join(" "));
    text
}

/// `sim_class` of every target in the truth table.
fn truth_classes(truth: &Path) -> HashMap<i64, String> {
    let b = ard_store::catalog::read_parquet(truth).expect("truth table");
    let ids = b.column_by_name("targetid").expect("targetid").as_primitive::<Int64Type>();
    let class = b.column_by_name("sim_class").expect("sim_class").as_string::<i32>();
    (0..b.num_rows()).map(|i| (ids.value(i), class.value(i).to_string())).collect()
}

#[test]
fn stars_and_qsos_are_refused_by_every_galaxy_layer() {
    if ard_testkit::require("the BC03 library (scripts/setup.sh)", ssp::SspLibrary::locate_library(ssp::Library::Bc03, None)).is_none() {
        return;
    }
    let work = tempfile::tempdir().expect("temp dir");
    let (raw, ard) = (work.path().join("raw"), work.path().join("ard"));
    let (r, a) = (raw.to_str().expect("path"), ard.to_str().expect("path"));
    let said = run(&["simulate", r, "--library", "bc03", "--objects", "100", "--seed", "16", "--quiet"]);
    assert!(said.contains("3 stars and 3 QSOs"), "{said}");
    run(&["ingest", r, a, "--quiet"]);
    run(&["topology", a]);
    let classes = truth_classes(&raw.join("truth/truth.parquet"));
    let csv = run(&["sql", a, "SELECT targetid, spectype, physics_status, pca_status, topology_status FROM catalog", "--format", "csv"]);
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut rows = 0;
    for line in csv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 5, "{line}");
        let id: i64 = f[0].parse().unwrap_or_else(|_| panic!("TARGETID in {line}"));
        let class = classes.get(&id).unwrap_or_else(|| panic!("{id} not in the truth table")).as_str();
        rows += 1;
        match class {
            "STAR" | "QSO" => {
                *seen.entry(class).or_default() += 1;
                assert_eq!(f[1], class, "redrock SPECTYPE of {id}");
                assert_eq!((f[2], f[4]), ("not_galaxy", "not_galaxy"), "{class} {id}: physics and topology must refuse it");
                assert_eq!(f[3], "ok", "{class} {id}: the PCA embedding takes any spectrum");
            }
            _ => {
                assert_eq!(f[1], "GALAXY", "{id}");
                assert!(f[2] != "not_galaxy" && f[4] != "not_galaxy", "galaxy {id} refused: {line}");
            }
        }
    }
    assert!(rows >= 100, "{rows} catalogue rows");
    assert_eq!((seen.get("STAR").copied(), seen.get("QSO").copied()), (Some(3), Some(3)), "{seen:?}");
}

/// The MaStar library (`validate … --library mastar`): converted by `scripts/setup.sh` with
/// MaStar's own per-pixel resolution and a luminosity scale taken from BC03, and a mock
/// built from it.
#[test]
fn the_mastar_library_keeps_its_resolution_and_makes_a_mock() {
    let (Some(mastar), Some(bc03)) = (
        ard_testkit::require("the MaStar library (scripts/setup.sh)", ssp::SspLibrary::locate_library(ssp::Library::Mastar, None)),
        ard_testkit::require("the BC03 library (scripts/setup.sh)", ssp::SspLibrary::locate_library(ssp::Library::Bc03, None)),
    ) else {
        return;
    };
    assert_eq!((mastar.ages_gyr.len(), mastar.metals.len()), (9, 6));
    // Vacuum 3622–10351 Å in the wheel, stored in air.
    let (lo, hi) = (mastar.wave[0], mastar.wave[mastar.wave.len() - 1]);
    assert!((lo - 3620.6).abs() < 1.0 && (hi - 10348.6).abs() < 1.0, "{lo}–{hi}");
    // R = 1400–2100 from the SRES HDU: FWHM 2.5–5 Å, broader to the red (not a constant).
    let (f0, f1) = (mastar.fwhm_at(3700.0), mastar.fwhm_at(10000.0));
    assert!((2.4..2.9).contains(&f0) && (4.5..5.2).contains(&f1), "FWHM {f0} … {f1} Å");
    // Per mass formed, a 10-Gyr solar MaStar population is as bright at 5500 Å as BC03's
    // less the Chabrier → Salpeter 0.201 dex, within the age mismatch (9 vs 10 Gyr: ±20 %).
    let mean = |lib: &ssp::SspLibrary, m: usize, a: usize| {
        let s = lib.spectrum(m, a);
        let v: Vec<f64> = lib.wave.iter().zip(s).filter(|(w, _)| (5200.0..5800.0).contains(*w)).map(|(_, f)| *f as f64).collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let near = |grid: &[f64], x: f64| (0..grid.len()).min_by(|&a, &b| (grid[a] - x).abs().total_cmp(&(grid[b] - x).abs())).unwrap_or(0);
    let ratio = mean(&mastar, near(&mastar.metals, 0.0), near(&mastar.ages_gyr, 9.0))
        / (mean(&bc03, near(&bc03.metals, 0.0), near(&bc03.ages_gyr, 10.0)) * 10f64.powf(-0.201));
    assert!((0.8..1.25).contains(&ratio), "MaStar/BC03 at 5500 Å: {ratio}");
    let work = tempfile::tempdir().expect("temp dir");
    let raw = work.path().join("raw");
    let said = run(&["simulate", raw.to_str().expect("path"), "--library", "mastar", "--objects", "30", "--seed", "3", "--quiet"]);
    assert!(said.contains("30 MaStar galaxies"), "{said}");
    let truth = ard_store::catalog::read_parquet(&raw.join("truth/truth.parquet")).expect("truth");
    let imf = truth.column_by_name("imf").expect("imf").as_string::<i32>();
    assert!((0..truth.num_rows()).all(|i| imf.value(i) == "Salpeter 1955"));
}
