//! Redshift catalogues as DR1 publishes them (issue 15, item 3), written by
//! `scripts/fixtures/make_dr1_corpus.py` (astropy) from the genuine-format corpus in
//! `testdata/dr1`: `zall-pix-*` (every survey/program in one ZCATALOG), a v2 zpix with
//! `*_BEST` names, and a `ztile-*` where one TARGETID has a row per tile.

use std::path::{Path, PathBuf};

use desi_io::columns::{optional_f64, optional_i64, optional_str};
use desi_io::{read_spectra, read_zcatalog, ReadOptions};

fn dr1(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/dr1").join(rel)
}

fn coadd(survey: &str, program: &str) -> PathBuf {
    dr1(&format!("healpix/{survey}/{program}/272/27247/coadd-{survey}-{program}-27247.fits"))
}

const D: i64 = 39627000000001007;

/// The rows of `zall-pix` for the coadd's own survey and program, though the same TARGETID
/// has a row in each program.
#[test]
fn zall_pix_rows_follow_survey_and_program() {
    let zall = dr1("zcatalog/v1/zall-pix-iron.fits");
    for (program, z, zwarn) in [("bright", 0.4, 0), ("dark", 0.55, 4)] {
        let read = read_spectra(&coadd("main", program), Some(&zall), &ReadOptions::default()).expect("read with zall-pix");
        let b = &read.batch;
        let i = b.index_of(D).expect("target D");
        let rs = b.redshifts.as_ref().expect("redshifts");
        assert!((optional_f64(rs, "Z").unwrap()[i] - z).abs() < 1e-9, "main/{program}");
        assert_eq!(optional_i64(rs, "ZWARN").unwrap()[i], zwarn, "main/{program}");
        assert_eq!(optional_str(rs, "PROGRAM").unwrap()[i], program);
    }
    assert_eq!(read_zcatalog(&zall).unwrap().z_column, "Z");
}

/// zcatalog v2's `Z_BEST`, `ZWARN_BEST` (int32), `SPECTYPE_BEST` read under the v1 names.
#[test]
fn v2_best_columns_read_under_v1_names() {
    let v2 = dr1("zcatalog/v2/zpix-main-dark.fits");
    let t = read_zcatalog(&v2).expect("v2 zcatalog");
    assert_eq!(t.z_column, "Z_BEST");
    let read = read_spectra(&coadd("main", "dark"), Some(&v2), &ReadOptions::default()).expect("read with v2");
    let b = &read.batch;
    let rs = b.redshifts.as_ref().unwrap();
    let i = b.index_of(D).unwrap();
    assert!((optional_f64(rs, "Z").unwrap()[i] - 0.55).abs() < 1e-9);
    assert_eq!(optional_i64(rs, "ZWARN").unwrap()[i], 4);
    assert_eq!(optional_str(rs, "SPECTYPE").unwrap()[i], "GALAXY");
}

/// A tile catalogue joins on (TARGETID, TILEID): the genuine SV1 galaxy's row for tile
/// 80613 (its coadd's tile), not the other tile's row listed first; a healpix coadd, with
/// no TILEID, cannot be joined to it and says so.
#[test]
fn ztile_joins_on_targetid_and_tileid() {
    let ztile = dr1("zcatalog/v1/ztile-sv1-dark-cumulative.fits");
    let tile_coadd = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/desi/coadd-4-80613-thru20210324.fits");
    let opts = ReadOptions { survey: Some("sv1".into()), program: Some("dark".into()) };
    let read = read_spectra(&tile_coadd, Some(&ztile), &opts).expect("read with ztile");
    let rs = read.batch.redshifts.as_ref().unwrap();
    let i = read.batch.index_of(39633345008634465).unwrap();
    assert!((optional_f64(rs, "Z").unwrap()[i] - 0.368744).abs() < 1e-6, "z {}", optional_f64(rs, "Z").unwrap()[i]);
    let err = read_spectra(&coadd("main", "dark"), Some(&ztile), &ReadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("TILEID") && err.contains("coadd-main-dark-27247.fits"), "{err}");
}
