//! Benchmark (issue 5): the SED fit of the genuine DESI DR1 coadd of TARGETID
//! 39633345008634465 — likelihood calls per second, calls per fit, seconds per galaxy
//! per core. `RAYON_NUM_THREADS=1 cargo bench -p ard-sed --bench sed_fit`.
//!
//! With `DESI_ARD_BAGPIPES_PYTHON` (a python with bagpipes + nautilus-sampler:
//! `scripts/peers/bagpipes-venv.sh` prints one) it also times the peer on the same
//! spectrum, same pixels and same resolution in the same run: Bagpipes' seconds per
//! likelihood call, and with `DESI_ARD_BAGPIPES_FULL=1` a complete nautilus fit.

use std::path::Path;
use std::time::Instant;

use ard_core::cosmology::PLANCK18;
use ard_sed::{fit, ObservedLibrary, Params, SedConfig};

fn main() {
    let lib = ssp::SspLibrary::locate_and_load(None).expect("E-MILES template file (scripts/setup.sh)");
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/desi");
    let opts = desi_io::ReadOptions { survey: Some("sv1".into()), program: Some("dark".into()) };
    let r = desi_io::read_spectra(
        &testdata.join("coadd-4-80613-thru20210324.fits"),
        Some(&testdata.join("redrock-4-80613-thru20210324.fits")),
        &opts,
    )
    .expect("genuine coadd");
    let b = &r.batch;
    let z = desi_io::columns::optional_f64(b.redshifts.as_ref().expect("redshifts"), "Z").expect("Z")[0];
    let t0 = Instant::now();
    let obs = ObservedLibrary::for_object(&lib, &PLANCK18, b, 0, z, 100.0).expect("fittable");
    let prep = t0.elapsed().as_secs_f64();
    let p = Params {
        log_mass_formed: 9.5,
        sfh: ssp::sfh::Sfh::DelayedTau { age: 3.0, tau: 2.0 },
        metallicity: -0.3,
        av: 0.4,
        birth_cloud_factor: 1.0,
        noise_scale: 1.0,
    };
    let mut scratch = Vec::new();
    let reps = 2000;
    let t1 = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(obs.log_likelihood(std::hint::black_box(&p), &mut scratch));
    }
    let per_call = t1.elapsed().as_secs_f64() / reps as f64;
    let t2 = Instant::now();
    let aperture = ard_sed::aperture_ratios(&b.fibermap)[0].map_or(0.0, f64::log10);
    let res = fit(&obs, &PLANCK18, z, &SedConfig::default(), 1, aperture).expect("fit");
    let total = t2.elapsed().as_secs_f64();
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    println!("SED fit of TARGETID 39633345008634465 (z = {z:.4}), {} binned pixels, threads {threads}:", obs.n_pix);
    println!("  preparation (150 SSPs broadened, resampled, through the resolution matrix): {prep:.3} s");
    println!("  likelihood: {:.1} µs/call = {:.0} calls/s", per_call * 1e6, 1.0 / per_call);
    println!(
        "  fit: {} calls, {total:.2} s (+ preparation = {:.2} s per galaxy); logM p50 {:.3}, converged {}",
        res.n_calls,
        total + prep,
        res.log_mass[1],
        res.converged
    );
    if let Ok(python) = std::env::var("DESI_ARD_BAGPIPES_PYTHON") {
        let per_galaxy = total + prep;
        bagpipes_peer(&python, b, z, per_call, res.n_calls, per_galaxy);
    } else {
        println!(
            "  (set DESI_ARD_BAGPIPES_PYTHON=$(bash scripts/peers/bagpipes-venv.sh) to time Bagpipes + nautilus on the same spectrum)"
        );
    }
}

/// Writes the spectrum (the fit's own pixels; the others with error 0) and the
/// resolving power from the resolution matrix, runs the Bagpipes peer and prints the ratios.
fn bagpipes_peer(python: &str, b: &ard_core::SpectrumBatch, z: f64, per_call: f64, calls: usize, per_galaxy: f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = ard_sed::good_pixels(&b.wavelength, b.flux_of(0), b.ivar_of(0), b.mask_of(0), z);
    let mut spec = String::new();
    for (j, &w) in b.wavelength.iter().enumerate() {
        let err = if good[j] { 1.0 / (b.ivar_of(0)[j] as f64).sqrt() } else { 0.0 };
        let f = if b.flux_of(0)[j].is_finite() { b.flux_of(0)[j] } else { 0.0 };
        spec.push_str(&format!("{w:.4} {f:.6e} {err:.6e}\n"));
    }
    // Resolving power λ / FWHM, FWHM = 2√(2 ln 2) × the kernel's rms width in pixels × Δλ.
    let (res, nd, nw) = (b.resolution_of(0), b.ndiag, b.wavelength.len());
    let mut rcurve = String::new();
    for j in (0..nw).step_by(10) {
        let (mut s0, mut s1, mut s2) = (0.0, 0.0, 0.0);
        for d in 0..nd {
            let v = res[d * nw + j] as f64;
            let off = d as f64 - (nd / 2) as f64;
            s0 += v;
            s1 += v * off;
            s2 += v * off * off;
        }
        let sigma_pix = (s2 / s0 - (s1 / s0).powi(2)).max(0.01).sqrt();
        let dl = if j + 1 < nw { b.wavelength[j + 1] - b.wavelength[j] } else { b.wavelength[j] - b.wavelength[j - 1] };
        rcurve.push_str(&format!(
            "{:.3} {:.1}\n",
            b.wavelength[j],
            b.wavelength[j] / (ard_core::constants::FWHM_PER_SIGMA * sigma_pix * dl)
        ));
    }
    let (sp, rc) = (dir.path().join("spectrum.txt"), dir.path().join("rcurve.txt"));
    std::fs::write(&sp, spec).expect("write spectrum");
    std::fs::write(&rc, rcurve).expect("write R curve");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/peers/bagpipes_fit.py");
    let mut cmd = std::process::Command::new(python);
    cmd.arg(&script).arg(&sp).args(["--z", &z.to_string(), "--sigma", "100", "--r-curve"]).arg(&rc).args(["--calls", "200"]);
    if std::env::var("DESI_ARD_BAGPIPES_FULL").is_ok_and(|v| v == "1") {
        cmd.arg("--full");
    }
    let out = cmd.output().expect("run the Bagpipes peer");
    if !out.status.success() {
        eprintln!("Bagpipes peer failed:\n{}", String::from_utf8_lossy(&out.stderr));
        return;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(line) = text.lines().rev().find(|l| l.starts_with('{')) else {
        eprintln!("Bagpipes peer printed no result:\n{text}");
        return;
    };
    let v: serde_json::Value = serde_json::from_str(line).expect("peer JSON");
    let peer_call = v["seconds_per_call"].as_f64().unwrap_or(f64::NAN);
    println!(
        "  Bagpipes {} + nautilus, same spectrum: {:.2} ms/call ({}× ours per call)",
        v["bagpipes"],
        peer_call * 1e3,
        (peer_call / per_call).round()
    );
    if let (Some(t), Some(n)) = (v["full_fit_seconds"].as_f64(), v["full_fit_calls"].as_u64()) {
        println!("  Bagpipes complete fit: {n} calls, {t:.0} s = {:.0}× ours per galaxy", t / per_galaxy);
    } else {
        let est = peer_call * calls as f64;
        println!("  Bagpipes per galaxy at our call count ({calls}): {est:.0} s = {:.0}× ours (DESI_ARD_BAGPIPES_FULL=1 runs its own complete fit)", est / per_galaxy);
    }
}
