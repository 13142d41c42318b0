//! The unit of failure is one (survey, program) input of a pixel, not the pixel (issue
//! 15, item 1). A DR1 pixel holds several coadds: here the genuine-format pixel of
//! `testdata/dr1` gets a garbage coadd beside its good ones and one of its good coadds is
//! cut short. The others are written; the pixel is `partial` in the manifest with each
//! broken file, its HDU and a readable reason; `info` shows it; ingest exits 3; a re-run
//! skips it until a broken file changes, or with `--retry-failed`. The runs use the
//! redrock files (`--no-zcatalog`), so each input is a coadd + redrock pair.

use std::path::{Path, PathBuf};
use std::process::Command;

const PIXEL: u64 = 27247;

fn run(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_desi-ard")).args(args).output().expect("run desi-ard");
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).expect("copy");
        }
    }
}

fn pixel_dir(raw: &Path, survey: &str, program: &str) -> PathBuf {
    raw.join("healpix").join(survey).join(program).join("272").join(PIXEL.to_string())
}

fn record(ard: &Path) -> ard_store::manifest::PixelRecord {
    ard_store::manifest::PixelRecord::read(&ard_store::ArdLayout::new(ard), PIXEL).expect("manifest").expect("a record")
}

fn rows(ard: &Path) -> usize {
    ard_store::catalog::read_parquet(&ard_store::ArdLayout::new(ard).catalog_leaf(PIXEL)).expect("leaf").num_rows()
}

#[test]
fn a_broken_coadd_leaves_out_only_itself() {
    let dir = tempfile::tempdir().expect("temp dir");
    let raw = dir.path().join("raw");
    let ard = dir.path().join("ard");
    copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/dr1"), &raw);
    // Garbage bytes (with control characters cfitsio would echo) where a coadd should be.
    let special = pixel_dir(&raw, "special", "dark");
    std::fs::create_dir_all(&special).expect("mkdir");
    let garbage = special.join(format!("coadd-special-dark-{PIXEL}.fits"));
    let noise: Vec<u8> = (0..6000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    std::fs::write(&garbage, &noise).expect("write");
    // The sv3/dark coadd cut short, as by an interrupted copy.
    let sv3 = pixel_dir(&raw, "sv3", "dark").join(format!("coadd-sv3-dark-{PIXEL}.fits"));
    let whole = std::fs::read(&sv3).expect("read");
    std::fs::write(&sv3, &whole[..whole.len() * 2 / 3]).expect("truncate");

    let (code, out) = run(&["ingest", raw.to_str().unwrap(), ard.to_str().unwrap(), "--quiet", "--no-physics", "--no-zcatalog"]);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains(&format!("PARTIAL pixel {PIXEL}")), "{out}");
    assert!(out.contains(&format!("{}: not a FITS file", garbage.display())), "{out}");
    assert!(out.contains("coadd-sv3-dark-27247.fits") && out.contains("truncated?"), "{out}");
    // Readable: the garbage's bytes are not echoed.
    assert!(out.chars().all(|c| c == '\n' || !c.is_control()) && !out.contains('\u{FFFD}'), "{out:?}");
    // The good coadds are written: main/dark (7) and main/bright (2), not sv3 (2).
    assert_eq!(rows(&ard), 9);
    let rec = record(&ard);
    assert_eq!(rec.status, ard_store::manifest::PixelStatus::Partial);
    assert_eq!(rec.broken.len(), 2, "{:?}", rec.broken);
    let truncated = rec.broken.iter().find(|b| b.coadd.ends_with("coadd-sv3-dark-27247.fits")).expect("the truncated coadd");
    assert!(
        truncated.hdu.is_some() && truncated.redrock.as_deref().is_some_and(|r| r.ends_with("redrock-sv3-dark-27247.fits")),
        "{truncated:?}"
    );
    let (code, info) = run(&["info", ard.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{info}");
    assert!(info.contains("1 partial pixels") && info.contains("coadd-special-dark-27247.fits"), "{info}");

    // Unchanged: skipped, and still reported (exit 3).
    let (code, out) = run(&["ingest", raw.to_str().unwrap(), ard.to_str().unwrap(), "--quiet", "--no-physics", "--no-zcatalog"]);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("0 processed") && out.contains("1 unchanged") && out.contains("PARTIAL pixel"), "{out}");
    // --retry-failed redoes it (still partial: nothing was mended).
    let (code, out) =
        run(&["ingest", raw.to_str().unwrap(), ard.to_str().unwrap(), "--quiet", "--no-physics", "--no-zcatalog", "--retry-failed"]);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("1 processed"), "{out}");
    // The truncated file mended (its size changes): retried without asking, and it is back.
    std::fs::write(&sv3, &whole).expect("restore");
    let (code, out) = run(&["ingest", raw.to_str().unwrap(), ard.to_str().unwrap(), "--quiet", "--no-physics", "--no-zcatalog"]);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("1 processed"), "{out}");
    assert_eq!(rows(&ard), 11);
    assert_eq!(record(&ard).broken.len(), 1);
    // The garbage removed: done, exit 0.
    std::fs::remove_file(&garbage).expect("remove");
    let (code, out) = run(&["ingest", raw.to_str().unwrap(), ard.to_str().unwrap(), "--quiet", "--no-physics", "--no-zcatalog"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(record(&ard).status, ard_store::manifest::PixelStatus::Done);
    assert_eq!(rows(&ard), 11);
}
