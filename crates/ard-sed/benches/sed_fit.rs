//! Benchmark (issue 5): the SED fit of the genuine DESI DR1 coadd of TARGETID
//! 39633345008634465 — likelihood calls per second, calls per fit, seconds per galaxy
//! per core. `RAYON_NUM_THREADS=1 cargo bench -p ard-sed --bench sed_fit`.

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
    let obs = ObservedLibrary::new(
        &lib,
        &PLANCK18,
        &b.wavelength,
        b.flux_of(0),
        b.ivar_of(0),
        b.mask_of(0),
        b.resolution_of(0),
        b.ndiag,
        z,
        100.0,
    )
    .expect("fittable");
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
    let res = fit(&obs, &PLANCK18, z, &SedConfig::default(), 1).expect("fit");
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
}
