//! Issue 5: `desi-ard ingest --sed` on the genuine DESI DR1 coadd of TARGETID
//! 39633345008634465 (an sv1 dark-time emission-line galaxy at z = 0.369) writes finite
//! posteriors with logm_p50 between 8.5 and 10.5 (the bound), ordered
//! percentiles, and the aperture ratio FLUX_R / FIBERFLUX_R it applied; and its total
//! stellar mass agrees with fastspecfit's documented value for the same target.

use std::path::Path;
use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_desi-ard")).args(args).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn genuine_dr1_galaxy_gets_finite_sed_posteriors() {
    if ard_testkit::require("the E-MILES templates", ssp::SspLibrary::locate_and_load(None)).is_none() {
        return;
    }
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/desi");
    let raw = tempfile::tempdir().unwrap();
    for f in ["coadd-4-80613-thru20210324.fits", "redrock-4-80613-thru20210324.fits"] {
        std::fs::copy(testdata.join(f), raw.path().join(f)).unwrap();
    }
    let ard = tempfile::tempdir().unwrap();
    let a = ard.path().to_str().unwrap();
    let (ok, out) = run(&["ingest", raw.path().to_str().unwrap(), a, "--quiet", "--no-physics", "--sed", "--program", "dark"]);
    assert!(ok, "{out}");
    let sql = "SELECT logm_p16, logm_p50, logm_p84, logsfr_p16, logsfr_p50, logsfr_p84, dust_av_p50, age_p50, sed_logz, sed_ncall, sed_chi2_dof, sed_aperture_ratio, sed_status FROM catalog WHERE targetid = 39633345008634465";
    let (ok, out) = run(&["sql", a, sql, "--format", "json"]);
    assert!(ok, "{out}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(out.trim()).unwrap();
    let r = &rows[0];
    eprintln!("{r}");
    assert!(r["sed_status"].as_str().unwrap().starts_with("ok"), "{r}");
    let f = |k: &str| r[k].as_f64().unwrap_or_else(|| panic!("{k} missing in {r}"));
    assert!((8.5..=10.5).contains(&f("logm_p50")), "{r}");
    assert!(f("logm_p16") <= f("logm_p50") && f("logm_p50") <= f("logm_p84"));
    assert!(f("logsfr_p16") <= f("logsfr_p50") && f("logsfr_p50") <= f("logsfr_p84"));
    assert!(f("sed_logz").is_finite(), "{r}");
    // fastspecfit's iron documentation (doc/iron.rst, fastspecfit 2.x, templates
    // ftemplates-chabrier-1.0.0) fits the sv1/bright healpix coadd of this target:
    // Mstar = 9.178 (Chabrier IMF, H0 = 70, Ωm = 0.3, aperture-corrected to the total).
    // To our conventions: +0.215 dex for the IMF (Madau & Dickinson 2014: M_Chabrier =
    // 0.61 M_Salpeter; our E-MILES set is unimodal 1.30) and +0.027 dex for Planck 2018
    // (2 log10 of the ratio of luminosity distances at z = 0.3687, astropy). Different
    // coadd (this is the SV1 dark tile coadd), different templates: ±0.3 dex (issue 16).
    // Measured: 9.395 against 9.420.
    let fastspecfit_logm = 9.178 + ard_core::constants::LOG_MASS_CHABRIER_TO_SALPETER + 0.027;
    assert!((f("logm_p50") - fastspecfit_logm).abs() < 0.3, "logm_p50 {} vs fastspecfit {fastspecfit_logm:.3}", f("logm_p50"));
    assert!(f("sed_ncall") > 1000.0 && (0.5..3.0).contains(&f("sed_chi2_dof")), "{r}");
    assert!(f("sed_aperture_ratio") >= 1.0, "total flux ≥ fibre flux: {r}");
}
