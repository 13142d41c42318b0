//! No input file makes the reader panic: deterministic mutations and truncations of
//! genuine DESI files (the fuzz target in fuzz/ explores further). Issue 2, item 7.

use std::path::Path;

fn lcg(state: &mut u64) -> u64 {
    *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    *state >> 33
}

#[test]
fn mutated_and_truncated_coadds_never_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/desi");
    let dir = tempfile::tempdir().unwrap();
    let mut state = 7u64;
    let mut errors = 0;
    let mut cases = 0;
    for name in ["coadd-main-dark-9999.fits", "coadd-maskvariants.fits", "redrock-main-dark-9999.fits"] {
        let original = std::fs::read(root.join(name)).unwrap();
        for case in 0..60 {
            let mut bytes = original.clone();
            match case % 3 {
                0 => bytes.truncate((lcg(&mut state) as usize) % bytes.len()),
                1 => {
                    // Corrupt header cards (the first 2880 bytes of a random HDU region).
                    for _ in 0..8 {
                        let at = (lcg(&mut state) as usize) % bytes.len();
                        bytes[at] = (lcg(&mut state) % 256) as u8;
                    }
                }
                _ => {
                    let at = (lcg(&mut state) as usize) % bytes.len();
                    let len = ((lcg(&mut state) as usize) % 4000).min(bytes.len() - at);
                    for b in &mut bytes[at..at + len] {
                        *b = (lcg(&mut state) % 256) as u8;
                    }
                }
            }
            let coadd = dir.path().join(format!("coadd-main-dark-{case}.fits"));
            std::fs::write(&coadd, &bytes).unwrap();
            let redrock = root.join("redrock-main-dark-9999.fits");
            let result = std::panic::catch_unwind(|| desi_io::read_spectra(&coadd, Some(&redrock), &desi_io::ReadOptions::default()));
            let r = result.unwrap_or_else(|_| panic!("reader panicked on {name} mutation {case}"));
            cases += 1;
            if let Err(e) = r {
                errors += 1;
                let msg = e.to_string();
                assert!(msg.contains("coadd-main-dark-") || msg.contains("redrock-main-dark-9999"), "error does not name the file: {msg}");
            }
        }
    }
    assert!(errors > cases / 3, "most mutations should be detected: {errors} of {cases}");
}
