//! Benchmark (issue 4): objects per second per core for the full fit at DESI
//! resolution, and the ratio to Python pPXF 9.5.2 on the same spectrum, measured in
//! the same run. `cargo bench -p ard-physics --bench fit_vs_ppxf`; pPXF is run when
//! `DESI_ARD_PEER_PYTHON` names a Python with ppxf==9.5.2 and desispec
//! (`scripts/python-peers.sh`). Single-threaded on both sides.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ard_physics::{measure, FitConfig, ObjectInput};
use arrow_array::{Array, Float64Array};
use desi_io::{read_spectra, ReadOptions};
use ssp::SspLibrary;

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/desi").join(name)
}

fn main() {
    let lib = match SspLibrary::locate_and_load(None) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("fit_vs_ppxf: {e}");
            std::process::exit(1);
        }
    };
    let (coadd, redrock) = (testdata("coadd-4-80613-thru20210324.fits"), testdata("redrock-4-80613-thru20210324.fits"));
    let read = read_spectra(&coadd, Some(&redrock), &ReadOptions { survey: Some("sv1".into()), program: Some("dark".into()) })
        .expect("reading the reference coadd");
    let b = &read.batch;
    let tid = 39633345008634465i64;
    let i = b.index_of(tid).expect("reference target");
    let z = b.redshifts.as_ref().unwrap().column_by_name("Z").unwrap().as_any().downcast_ref::<Float64Array>().unwrap().value(i);
    let obj = ObjectInput::from_batch(b, i, Some(z), Some("GALAXY"), Some(0));
    let cfg = FitConfig::default();
    let _ = measure(&lib, &cfg, &obj);
    let reps = 10;
    let t0 = Instant::now();
    let mut last = None;
    for _ in 0..reps {
        last = Some(measure(&lib, &cfg, &obj));
    }
    let ours = t0.elapsed().as_secs_f64() / reps as f64;
    let m = last.unwrap();
    let flux = |name: &str| {
        m.fit
            .as_ref()
            .and_then(|f| f.lines.iter().find(|l| ard_physics::lines::GAS_LINES[l.line].name == name))
            .map(|l| l.flux)
            .unwrap_or(f64::NAN)
    };
    println!("desi-ard fit (templates prepared per object, 3 components, mdegree 10, clipping, Δχ² refit): {ours:.3} s/object = {:.2} objects/s/core", 1.0 / ours);
    println!("  Hα {:.1}  Hβ {:.1}  [OIII] {:.1}", flux("Halpha"), flux("Hbeta"), flux("[OIII]5007"));
    let Some(py) = std::env::var_os("DESI_ARD_PEER_PYTHON") else {
        println!("pPXF: not run (set DESI_ARD_PEER_PYTHON to a Python with ppxf==9.5.2 and desispec)");
        return;
    };
    let tpl = SspLibrary::candidate_paths(None).into_iter().find(|p| p.exists()).expect("template path");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/peers/ppxf_fit.py");
    let out = std::process::Command::new(py)
        .env("OMP_NUM_THREADS", "1")
        .env("OPENBLAS_NUM_THREADS", "1")
        .env("MKL_NUM_THREADS", "1")
        .arg(&script)
        .arg(&coadd)
        .arg(&redrock)
        .arg(tid.to_string())
        .arg(&tpl)
        .args(["--repeat", "3"])
        .output()
        .expect("running pPXF");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let Some(line) = stdout.lines().rev().find(|l| l.starts_with('{')) else {
        println!("pPXF failed: {}", String::from_utf8_lossy(&out.stderr));
        return;
    };
    let v: serde_json::Value = serde_json::from_str(line).expect("pPXF JSON");
    let theirs = v["seconds_per_fit"].as_f64().unwrap_or(f64::NAN);
    println!("pPXF 9.5.2 (same settings, one fit, no clipping): {theirs:.3} s/object");
    println!("  Hα {:.1}  Hβ {:.1}  [OIII] {:.1}", v["h_alpha"][0], v["h_beta"][0], v["oiii_5007"][0]);
    println!("speed-up: {:.1}x", theirs / ours);
}
