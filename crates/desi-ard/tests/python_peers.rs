//! The ARD opened by astronomers' own tools — pyarrow, DuckDB, hats/lsdb
//! (`is_valid_catalog(strict=True)`, `read_hats(...).cone_search(...)`) and h5py — with
//! values checked against `desi-ard sql` and `desi-ard spectrum`. Issue 3, acceptance
//! item 2. `scripts/test.sh` sets up the venv (`scripts/python-peers.sh`) and passes it
//! as `DESI_ARD_PEER_PYTHON`; CI runs it that way.

use std::path::Path;
use std::process::Command;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_desi-ard")
}

fn run(args: &[&str]) -> String {
    let out = Command::new(bin()).args(args).output().expect("run desi-ard");
    assert!(out.status.success(), "{:?}: {}{}", args, String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn json_field<'a>(json: &'a str, key: &str) -> &'a str {
    let start = json.find(&format!("\"{key}\": ")).unwrap_or_else(|| panic!("no {key} in {json}")) + key.len() + 4;
    let rest = &json[start..];
    let end = if rest.starts_with('[') {
        let mut depth = 0;
        rest.char_indices()
            .find(|(_, c)| {
                match c {
                    '[' => depth += 1,
                    ']' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .unwrap()
            .0
            + 1
    } else {
        rest.find([',', '}']).unwrap()
    };
    &rest[..end]
}

#[test]
fn pyarrow_duckdb_lsdb_and_h5py_agree_with_desi_ard() {
    let Some(python) = ard_testkit::peer_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let ard = dir.path().join("ard");
    // Four adjacent pixels and enough objects that the 10" margin cache is not empty.
    run(&["simulate", raw.to_str().unwrap(), "--objects", "400", "--pixels", "27244,27245,27246,27247", "--seed", "11", "--quiet"]);
    run(&["ingest", raw.to_str().unwrap(), ard.to_str().unwrap(), "--quiet", "--no-physics"]);
    let a = ard.to_str().unwrap();
    // A cone around the first primary object.
    let first = run(&[
        "sql",
        a,
        "SELECT targetid, target_ra, target_dec FROM catalog WHERE zcat_primary ORDER BY targetid LIMIT 1",
        "--format",
        "csv",
    ]);
    let line = first.lines().nth(1).unwrap();
    let parts: Vec<&str> = line.split(',').collect();
    let (tid, ra, dec) = (parts[0], parts[1], parts[2]);
    let radius_arcsec = "1800";
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/check_ard_python.py");
    let out = Command::new(&python).arg(script).args([a, ra, dec, radius_arcsec, tid]).output().unwrap();
    assert!(out.status.success(), "python peers failed: {}", String::from_utf8_lossy(&out.stderr));
    let json = String::from_utf8(out.stdout).unwrap();
    let json = json.lines().last().unwrap().to_string();

    assert_eq!(json_field(&json, "hats_valid_collection"), "true", "{json}");
    assert_eq!(json_field(&json, "hats_valid_catalog"), "true", "{json}");
    assert_eq!(json_field(&json, "lsdb_margin"), "true", "the 10\" margin cache must be found by lsdb: {json}");
    assert_eq!(json_field(&json, "hats_valid_exposures"), "true", "{json}");
    let nexp = run(&["sql", a, "SELECT count(*) AS n FROM exposures", "--format", "csv"]);
    assert_eq!(json_field(&json, "lsdb_exposure_rows"), nexp.lines().nth(1).unwrap());
    let count = run(&["sql", a, "SELECT count(*) AS n, sum(z) AS sz FROM catalog", "--format", "csv"]);
    let vals: Vec<&str> = count.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(json_field(&json, "pyarrow_rows"), vals[0]);
    assert_eq!(json_field(&json, "lsdb_rows"), vals[0]);
    let sz: f64 = vals[1].parse().unwrap();
    let psz: f64 = json_field(&json, "pyarrow_sum_z").parse().unwrap();
    assert!((sz - psz).abs() < 1e-9 * sz.abs(), "sum z: {sz} vs pyarrow {psz}");
    // DuckDB's GROUP BY equals ours.
    let groups = run(&[
        "sql",
        a,
        "SELECT survey, program, count(*) AS n, avg(z) AS mz FROM catalog GROUP BY survey, program ORDER BY survey, program",
        "--format",
        "csv",
    ]);
    let duck = json_field(&json, "duckdb_groups");
    for l in groups.lines().skip(1) {
        let g: Vec<&str> = l.split(',').collect();
        assert!(duck.contains(&format!("[\"{}\", \"{}\", {}, ", g[0], g[1], g[2])), "{l} not in DuckDB's {duck}");
        let mz: f64 = g[3].parse().unwrap();
        let needle = format!("[\"{}\", \"{}\", {}, ", g[0], g[1], g[2]);
        let after = &duck[duck.find(&needle).unwrap() + needle.len()..];
        let dmz: f64 = after[..after.find(']').unwrap()].parse().unwrap();
        assert!((mz - dmz).abs() < 1e-12, "avg z {mz} vs DuckDB {dmz}");
    }
    // lsdb's cone search equals ours.
    let ours = run(&[
        "sql",
        a,
        &format!("SELECT targetid FROM cone_search({ra}, {dec}, {}) ORDER BY targetid", 1800.0 / 3600.0),
        "--format",
        "csv",
    ]);
    let ours: Vec<&str> = ours.lines().skip(1).collect();
    assert!(!ours.is_empty());
    assert_eq!(json_field(&json, "lsdb_cone_targetids"), format!("[{}]", ours.join(", ")));
    // h5py reads the same spectrum as `desi-ard spectrum`.
    let csv = run(&["spectrum", a, tid, "--format", "csv"]);
    let (mut fsum, mut isum, mut n) = (0f64, 0f64, 0);
    for l in csv.lines().skip(1) {
        let v: Vec<&str> = l.split(',').collect();
        fsum += v[1].parse::<f32>().unwrap() as f64;
        isum += v[2].parse::<f32>().unwrap() as f64;
        n += 1;
    }
    assert_eq!(json_field(&json, "h5py_nwave"), n.to_string());
    let hf: f64 = json_field(&json, "h5py_flux_sum").parse().unwrap();
    let hi: f64 = json_field(&json, "h5py_ivar_sum").parse().unwrap();
    assert!((hf - fsum).abs() <= 1e-6 * fsum.abs().max(1.0), "flux sum {fsum} vs h5py {hf}");
    assert!((hi - isum).abs() <= 1e-6 * isum.abs().max(1.0), "ivar sum {isum} vs h5py {hi}");
    assert_eq!(json_field(&json, "h5py_chunks"), "[1, 7781]");
}
