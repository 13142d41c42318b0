//! Reader throughput: spectra read from coadd FITS, camera-merged onto the brz grid and
//! joined with redrock, per second on one core. Run:
//!   cargo bench -p desi-ard --bench reader [-- TREE]
//! TREE defaults to a fresh simulated sample (the default 2400-galaxy configuration,
//! 32 coadds) in a temporary folder; pass a DESI mirror's healpix folder to time real data.

use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let arg = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let tmp = tempfile::tempdir().expect("tempdir");
    let tree: PathBuf = match arg {
        Some(p) => PathBuf::from(p),
        None => {
            let lib = ssp::SspLibrary::locate_and_load(None).unwrap_or_else(|e| panic!("{e}"));
            let t = Instant::now();
            desi_sim::simulate(&lib, &desi_sim::SimConfig::default(), tmp.path(), &|_, _| {}).expect("simulate");
            eprintln!("simulated the default sample in {:.1} s", t.elapsed().as_secs_f64());
            tmp.path().to_path_buf()
        }
    };
    let inputs = desi_io::layout::discover(&tree).expect("discover");
    let bytes: u64 = inputs.iter().map(|i| std::fs::metadata(&i.coadd).map(|m| m.len()).unwrap_or(0)).sum();
    // Warm the page cache once so the figure is CPU cost, then time three passes.
    for i in &inputs {
        let _ = std::fs::read(&i.coadd);
    }
    let mut best = f64::INFINITY;
    let mut n = 0;
    for _ in 0..3 {
        let t = Instant::now();
        n = 0;
        for i in &inputs {
            let r = desi_io::read_spectra(&i.coadd, i.redrock.as_deref(), &Default::default()).expect("read");
            n += r.batch.len();
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "reader: {} files, {} spectra, {:.0} MB: {:.3} s on 1 core = {:.0} spectra/s/core ({:.0} MB/s)",
        inputs.len(),
        n,
        bytes as f64 / 1e6,
        best,
        n as f64 / best,
        bytes as f64 / 1e6 / best
    );
}
