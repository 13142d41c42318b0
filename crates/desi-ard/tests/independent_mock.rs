//! Issue 16, item 1 ("Objects"): the independent mock holds stars and QSOs, and every layer
//! that models galaxies refuses them end to end — `desi-ard simulate --library bc03`, then
//! `ingest` and `topology` exactly as a user runs them. redrock's SPECTYPE decides
//! (`not_galaxy`), never the fit; the embedding, which any spectrum may have, still runs.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_desi-ard")).args(args).output().expect("run desi-ard");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "desi-ard {}: {text}", args.join(" "));
    text
}

/// `sim_class` of every target in the truth table.
fn truth_classes(truth: &Path) -> HashMap<i64, String> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
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
