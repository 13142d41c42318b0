//! DESI's afterburners and the fastspecfit VAC (issue 15, item 5), on the genuine-format
//! files `scripts/fixtures/make_dr1_joins.py` writes from the data models (desidatamodel,
//! fastspecfit `doc/fastspec.rst`) with astropy.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type};
use arrow_array::Array;
use desi_io::joins::{afterburner_path, read_afterburner, read_vac_for_pixels, EMLINE, FASTSPEC, QSO_MGII, QSO_QN};

fn dr1(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/dr1").join(rel)
}

const G1: i64 = 39627000000001001;
const D: i64 = 39627000000001007;
const QSO: i64 = 39627000000001006;
const BADPOS: i64 = 39627000000001004;

#[test]
fn afterburners_are_found_and_joined_on_targetid() {
    let coadd = dr1("healpix/main/dark/272/27247/coadd-main-dark-27247.fits");
    let em = read_afterburner(&afterburner_path(&coadd, &EMLINE).expect("emline beside the coadd"), &EMLINE).expect("emline");
    let ids = [G1, QSO, BADPOS];
    let cols = em.columns_for(&ids, "main", "dark").expect("columns");
    assert_eq!(cols.len(), EMLINE.columns.len());
    // HALPHA_FLUX is column 12 (OII, HBETA, OIII, HALPHA × FLUX, IVAR, SIGMA, EW); the
    // fixture writes 60 + the redrock row (G1 row 0, QSO row 5); BADPOS has no row.
    let ha = cols[12].as_primitive::<Float32Type>();
    assert_eq!((ha.value(0), ha.value(1)), (60.0, 65.0));
    assert!(ha.is_null(2), "a TARGETID the file lacks is null");
    let mg = read_afterburner(&afterburner_path(&coadd, &QSO_MGII).expect("qso_mgii"), &QSO_MGII).expect("qso_mgii");
    let c = mg.columns_for(&[G1, QSO], "main", "dark").expect("columns");
    assert_eq!((c[0].as_boolean().value(0), c[0].as_boolean().value(1)), (false, true));
    let qn = read_afterburner(&afterburner_path(&coadd, &QSO_QN).expect("qso_qn"), &QSO_QN).expect("qso_qn");
    let c = qn.columns_for(&[QSO], "main", "dark").expect("columns");
    assert!((c[0].as_primitive::<Float64Type>().value(0) - 2.12).abs() < 1e-12);
    // main/bright has no afterburner files.
    assert_eq!(afterburner_path(&dr1("healpix/main/bright/272/27247/coadd-main-bright-27247.fits"), &EMLINE), None);
}

#[test]
fn the_vac_is_read_in_row_chunks_for_the_pixels_and_joined_on_survey_and_program() {
    let vac = dr1("vac/fastspec-iron-main-dark.fits");
    let pixels = BTreeSet::from([27247u64]);
    let whole = read_vac_for_pixels(&vac, Some(&pixels), 1 << 20).expect("VAC");
    // The row of pixel 27246 is dropped.
    assert_eq!(whole.table.num_rows(), 3);
    for chunk in [1, 2, 3] {
        let t = read_vac_for_pixels(&vac, Some(&pixels), chunk).expect("VAC in chunks");
        assert_eq!(t.table, whole.table, "chunks of {chunk} rows");
    }
    assert_eq!(read_vac_for_pixels(&vac, None, 2).expect("all rows").table.num_rows(), 4);
    let logm = FASTSPEC.columns.iter().position(|c| c.name == "LOGMSTAR").expect("LOGMSTAR");
    let vdisp = FASTSPEC.columns.iter().position(|c| c.name == "VDISP").expect("VDISP");
    let ha = FASTSPEC.columns.iter().position(|c| c.name == "HALPHA_FLUX").expect("HALPHA_FLUX");
    let c = whole.columns_for(&[G1, D], "main", "dark").expect("columns");
    let f = |i: usize, r: usize| c[i].as_primitive::<Float32Type>().value(r);
    assert_eq!((f(logm, 0), f(logm, 1)), (10.8, 11.1));
    assert!((f(vdisp, 0) - 208.0).abs() < 1e-4 && (f(ha, 0) - 54.0).abs() < 1e-4, "SPECPHOT and FASTSPEC rows stay aligned");
    // The same TARGETID in another program has no row here.
    let c = whole.columns_for(&[D], "main", "bright").expect("columns");
    assert!(c[logm].is_null(0));
}

#[test]
fn a_vac_whose_hdus_disagree_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("fastspec-bad.fits");
    let mut f = ard_fits::FitsFile::create(&path).expect("create");
    f.write_primary(&[]).expect("primary");
    let table = |n: usize| {
        arrow_array::RecordBatch::try_from_iter([("TARGETID", std::sync::Arc::new(arrow_array::Int64Array::from(vec![1i64; n])) as _)])
            .expect("batch")
    };
    f.write_table("METADATA", &table(2), &[]).expect("METADATA");
    f.write_table("SPECPHOT", &table(2), &[]).expect("SPECPHOT");
    f.write_table("FASTSPEC", &table(1), &[]).expect("FASTSPEC");
    f.close().expect("close");
    let e = read_vac_for_pixels(&path, None, 10).expect_err("row counts differ").to_string();
    assert!(e.contains("fastspec-bad.fits[FASTSPEC]") && e.contains("2 rows, as METADATA"), "{e}");
}
