//! Issue 17 item 1: the physics fit's model spectra stored beside the data. On a small
//! simulated sample ingested through the binary, every fitted object's χ² recomputed
//! from the stored `model`, `flux`, `ivar` and `fit_mask` equals `fit_chi2_dof ×
//! fit_dof` (within 2 %); the stored line model integrates to the catalogue's Hβ flux
//! once the Milky-Way dust it carries is taken out (within 3 %, where that flux has
//! S/N > 10); unfitted objects have an all-NaN model; and `desi-ard spectrum` writes the
//! model columns.

use std::process::Command;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_array::Array;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_desi-ard")).args(args).output().expect("run desi-ard");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn stored_models_reproduce_the_fit_chi2_and_line_fluxes() {
    let dir = tempfile::tempdir().unwrap();
    let (raw, ard) = (dir.path().join("raw"), dir.path().join("ard"));
    let (raw_s, ard_s) = (raw.to_str().unwrap(), ard.to_str().unwrap());
    let (ok, out) = run(&["simulate", raw_s, "--objects", "24", "--pixels", "27244,27245", "--seed", "9", "--quiet"]);
    assert!(ok, "{out}");
    let (ok, out) = run(&["ingest", raw_s, ard_s, "--quiet"]);
    assert!(ok, "{out}");

    let q = ard_query::ArdQuery::open(&ard).unwrap();
    let rows = q
        .sql("SELECT targetid, survey, program, physics_status, fit_chi2_dof, fit_dof, h_beta_flux, h_beta_flux_err, CAST(ebv AS DOUBLE) AS ebv, z FROM catalog")
        .unwrap();
    let (mut fitted, mut unfitted, mut lines_checked) = (0, 0, 0);
    for b in &rows {
        let tid = b.column(0).as_primitive::<Int64Type>();
        let text = |c: usize| arrow_cast::cast(b.column(c), &arrow_schema::DataType::Utf8).unwrap();
        let (survey, program, status) = (text(1), text(2), text(3));
        let (survey, program, status) = (survey.as_string::<i32>(), program.as_string::<i32>(), status.as_string::<i32>());
        let (chi2_dof, dof) = (b.column(4).as_primitive::<Float32Type>(), b.column(5).as_primitive::<Int32Type>());
        let (hb, hb_err) = (b.column(6).as_primitive::<Float32Type>(), b.column(7).as_primitive::<Float32Type>());
        let (ebv, z) = (b.column(8).as_primitive::<Float64Type>(), b.column(9).as_primitive::<Float64Type>());
        for i in 0..b.num_rows() {
            let s = q.spectrum(tid.value(i), Some(survey.value(i)), Some(program.value(i))).unwrap().unwrap();
            let (model, lines, mask) = (
                s.array(ard_core::names::MODEL).expect("a model dataset"),
                s.array(ard_core::names::MODEL_LINES).expect("a model_lines dataset"),
                s.array(ard_core::names::FIT_MASK).expect("a fit_mask dataset"),
            );
            assert_eq!((model.len(), lines.len(), mask.len()), (s.flux.len(), s.flux.len(), s.flux.len()));
            if status.value(i) != "ok" {
                assert!(model.iter().all(|v| v.is_nan()) && mask.iter().all(|&m| m == 0.0), "{}: not fitted, yet a model", tid.value(i));
                unfitted += 1;
                continue;
            }
            fitted += 1;
            let used: Vec<usize> = (0..mask.len()).filter(|&k| mask[k] == 1.0).collect();
            assert!(used.len() > 5000, "{}: only {} pixels in the fit mask", tid.value(i), used.len());
            assert!(used.iter().all(|&k| model[k].is_finite() && s.ivar[k] > 0.0));
            let chi2: f64 = used.iter().map(|&k| ((s.flux[k] - model[k]) as f64).powi(2) * s.ivar[k] as f64).sum();
            let want = chi2_dof.value(i) as f64 * dof.value(i) as f64;
            assert!((chi2 / want - 1.0).abs() < 0.02, "{}: χ² from the stored model {chi2:.1}, catalogue {want:.1}", tid.value(i));
            // A correct model fits noise-like: χ²/dof near 1 on the simulator's exact ivar.
            assert!((0.8..1.3).contains(&chi2_dof.value(i)), "{}: χ²/dof {}", tid.value(i), chi2_dof.value(i));
            if hb.is_valid(i) && hb.value(i) > 10.0 * hb_err.value(i) {
                // Hβ alone within ±15 Å (observed, ×(1+z)); the columns are dust-corrected.
                let centre = 4862.68 * (1.0 + z.value(i));
                let half = 15.0 * (1.0 + z.value(i));
                let sum: f64 = (0..s.wavelength.len())
                    .filter(|&k| (s.wavelength[k] - centre).abs() < half)
                    .map(|k| lines[k] as f64 * (s.wavelength[k + 1] - s.wavelength[k]))
                    .sum();
                let mw = ard_core::dust::MilkyWay::new(&[centre]);
                let t = mw.transmission_of(ebv.is_valid(i).then(|| ebv.value(i))).map_or(1.0, |t| t[0]);
                let ratio = sum / t / hb.value(i) as f64;
                assert!((ratio - 1.0).abs() < 0.03, "{}: ∫ model_lines at Hβ / h_beta_flux = {ratio:.4}", tid.value(i));
                lines_checked += 1;
            }
        }
    }
    assert!(fitted >= 15 && lines_checked >= 3, "{fitted} fitted, {unfitted} not, {lines_checked} Hβ checks");

    // The CLI writes the model beside the data.
    let b = &rows[0];
    let tid = b.column(0).as_primitive::<Int64Type>().value(0).to_string();
    let (ok, out) = run(&["spectrum", ard_s, &tid, "--format", "csv"]);
    assert!(ok, "{out}");
    assert!(out.contains("wavelength,flux,ivar,mask,fit_mask,model,model_lines\n"), "{}", &out[..out.len().min(300)]);
}
