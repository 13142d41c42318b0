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
const G1: i64 = 39627000000001001;
const QSO: i64 = 39627000000001006;

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

/// A v2 base file read with its `-extra` companion beside it: Z_CONF from the base, the
/// GOOD_Z flags joined row by row (values from `make_dr1_zcat_v2.py`); a companion whose
/// rows are not the base's, in order and number, is an error naming it.
#[test]
fn a_v2_extra_companion_is_joined_row_by_row() {
    let v2 = dr1("zcatalog/v2/zpix-main-dark.fits");
    assert_eq!(desi_io::v2_companions_present(&v2), vec![dr1("zcatalog/v2/zpix-main-dark-extra.fits")]);
    assert!(desi_io::is_v2_companion(&dr1("zcatalog/v2/zpix-main-dark-extra.fits")) && !desi_io::is_v2_companion(&v2));
    let t = read_zcatalog(&v2).expect("v2 with -extra");
    let ids = optional_i64(&t.table, "TARGETID").unwrap();
    let row = |id: i64| ids.iter().position(|&t| t == id).expect("row");
    let flag = |name: &str, id: i64| ard_core::columns::nullable_i64(&t.table, name).expect(name)[row(id)];
    // G1: a galaxy, ZWARN 0, DELTACHI2 150: confident, a good LRG redshift.
    assert_eq!((flag("Z_CONF", G1), flag("GOOD_Z_LRG", G1), flag("GOOD_Z_QSO", G1)), (Some(3), Some(1), Some(0)));
    assert_eq!((flag("GOOD_Z_LRG", QSO), flag("GOOD_Z_QSO", QSO)), (Some(0), Some(1)));
    // D: ZWARN 4 here.
    assert_eq!((flag("Z_CONF", D), flag("GOOD_Z_LRG", D)), (Some(0), Some(0)));
    assert_eq!(t.z_column, "Z_BEST", "the redshift stays the base file's Z_BEST");

    // Companions that do not match their base.
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("zpix-main-dark.fits");
    std::fs::copy(&v2, &base).unwrap();
    let mut extra = ard_fits::FitsFile::open(dr1("zcatalog/v2/zpix-main-dark-extra.fits")).unwrap();
    extra.move_to("ZCATALOG_EXTRA").unwrap();
    let table = extra.read_table().unwrap();
    let write = |batch: &arrow_array::RecordBatch| {
        let path = desi_io::v2_companion(&base, "extra");
        let _ = std::fs::remove_file(&path);
        let mut f = ard_fits::FitsFile::create(&path).unwrap();
        f.write_primary(&[]).unwrap();
        f.write_table("ZCATALOG_EXTRA", batch, &[]).unwrap();
        f.close().unwrap();
    };
    let reversed = arrow_array::UInt32Array::from_iter_values((0..table.num_rows() as u32).rev());
    write(&arrow_select::take::take_record_batch(&table, &reversed).unwrap());
    let err = read_zcatalog(&base).unwrap_err().to_string();
    assert!(err.contains("zpix-main-dark-extra.fits") && err.contains("row 0") && err.contains("in order"), "{err}");
    write(&table.slice(0, table.num_rows() - 1));
    let err = read_zcatalog(&base).unwrap_err().to_string();
    assert!(err.contains("zpix-main-dark-extra.fits") && err.contains("ZCATALOG_EXTRA") && err.contains("rows"), "{err}");
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

/// A zcatalog is read in row chunks of the columns desi-ard uses, keeping only the rows of
/// the pixels ingested: by HEALPIX where the file has it (zpix, zall-pix), else by the
/// pixel of TARGET_RA/TARGET_DEC (ztile). Chunks of 2 rows cross every boundary.
#[test]
fn zcatalog_rows_are_kept_for_the_pixels_ingested_only() {
    use arrow_array::{ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
    use std::collections::BTreeSet;
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    // (TARGETID, HEALPIX, TARGET_RA, TARGET_DEC): 1, 3, 5 lie in 27247.
    let rows = [
        (1i64, 27247i32, 149.465404248889, 1.7936467486355945),
        (2, 27246, 10.0, 10.0),
        (3, 27247, 149.465404248889, 1.7936467486355945),
        (4, 1000, 200.0, -20.0),
        (5, 27247, 149.465404248889, 1.7936467486355945),
    ];
    let n = rows.len();
    let col = |f: &dyn Fn(usize) -> f64| Arc::new(Float64Array::from((0..n).map(f).collect::<Vec<_>>())) as ArrayRef;
    let common: Vec<(&str, ArrayRef)> = vec![
        ("TARGETID", Arc::new(Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>()))),
        ("Z", col(&|i| 0.1 * i as f64)),
        ("ZERR", col(&|_| 1e-4)),
        ("ZWARN", Arc::new(Int64Array::from(vec![0; n]))),
        ("SPECTYPE", Arc::new(StringArray::from(vec!["GALAXY"; n]))),
        ("FLUX_G", col(&|_| 1.0)),
    ];
    let write = |name: &str, extra: Vec<(&str, ArrayRef)>| {
        let path = dir.path().join(name);
        let batch = RecordBatch::try_from_iter(common.iter().cloned().chain(extra)).unwrap();
        let mut f = ard_fits::FitsFile::create(&path).unwrap();
        f.write_primary(&[]).unwrap();
        f.write_table("ZCATALOG", &batch, &[]).unwrap();
        f.close().unwrap();
        path
    };
    let zpix = write("zpix-main-dark.fits", vec![("HEALPIX", Arc::new(Int32Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())))]);
    let ztile = write("ztile-main-dark-cumulative.fits", vec![("TARGET_RA", col(&|i| rows[i].2)), ("TARGET_DEC", col(&|i| rows[i].3))]);
    let want = BTreeSet::from([27247u64]);
    for path in [&zpix, &ztile] {
        let t = desi_io::read_zcatalog_in_chunks(path, Some(&want), 2).unwrap();
        assert_eq!(optional_i64(&t.table, "TARGETID").unwrap(), [1, 3, 5], "{}", path.display());
        assert!(t.table.column_by_name("FLUX_G").is_none(), "only the columns desi-ard uses are read");
        let all = desi_io::read_zcatalog_in_chunks(path, None, 2).unwrap();
        assert_eq!(all.table.num_rows(), n);
    }
    let none = desi_io::read_zcatalog_in_chunks(&zpix, Some(&BTreeSet::from([7u64])), 2).unwrap();
    assert_eq!((none.table.num_rows(), none.z_column.as_str()), (0, "Z"), "no row of the pixel: an empty table, still checked");
}
