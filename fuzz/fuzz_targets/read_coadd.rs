//! Fuzz the DESI reader: any bytes as a coadd (and as its redrock partner) must give
//! a result or an error, never a panic or a crash.
//! Run: `cargo +nightly fuzz run read_coadd -- -max_total_time=300`
//! (seed corpus: `mkdir -p corpus/read_coadd && cp ../testdata/desi/*.fits corpus/read_coadd/`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("tempdir");
    let coadd = dir.path().join("coadd-main-dark-1.fits");
    std::fs::write(&coadd, data).expect("write");
    let _ = desi_io::read_spectra(&coadd, Some(&coadd), &desi_io::ReadOptions::default());
});
