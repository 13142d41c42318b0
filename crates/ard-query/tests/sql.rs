//! SQL over an ARD built from the genuine DESI coadds and desispec-written files in
//! testdata/desi: queries with expected rows, read-only refusals, clear errors,
//! pruning, cone search and output formats. Issue 3, "Ask".

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ard_query::output::{write, Format};
use ard_query::{ArdQuery, QueryError};

fn ard() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let raw = d.path().join("raw");
        std::fs::create_dir_all(&raw).unwrap();
        let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/desi");
        for f in [
            "coadd-4-80613-thru20210324.fits",
            "redrock-4-80613-thru20210324.fits",
            "coadd-special-dark-27247.fits",
            "redrock-special-dark-27247.fits",
            "coadd-main-dark-9999.fits",
            "redrock-main-dark-9999.fits",
        ] {
            std::fs::copy(testdata.join(f), raw.join(f)).unwrap();
        }
        let ard = d.path().join("ard");
        let opts =
            ard_ingest::IngestOptions { workers: 1, program: Some("bright".into()), ..ard_ingest::IngestOptions::new(raw, ard.clone()) };
        let r = ard_ingest::ingest(&opts).unwrap();
        assert!(r.failed.is_empty(), "{:?}", r.failed);
        ard_ingest::finalize(&ard).unwrap();
        (d, ard)
    })
    .1
}

fn query(sql: &str) -> Result<String, QueryError> {
    let q = ArdQuery::open(ard())?;
    let rows = q.sql(sql)?;
    Ok(write(&rows, Format::Csv, None)?.unwrap_or_default())
}

#[test]
fn rows_as_expected() {
    let got =
        query("SELECT targetid, survey, program, round(z, 6) AS z, zwarn, spectype, zcat_primary FROM catalog ORDER BY targetid").unwrap();
    assert_eq!(
        got,
        "targetid,survey,program,z,zwarn,spectype,zcat_primary\n\
         39089837499744649,special,dark,0.00727,0,GALAXY,true\n\
         39627000000000001,main,dark,0.1234,0,GALAXY,true\n\
         39627000000000002,main,dark,0.5678,4,GALAXY,true\n\
         39633345008634465,sv1,bright,0.368744,0,GALAXY,true\n"
    );
    let got = query("SELECT healpix, count(*) AS n FROM catalog GROUP BY healpix ORDER BY healpix").unwrap();
    // The tile coadd's galaxy and desispec's two 9999-file rows fall in the nside-64 pixels
    // of their own TARGET_RA/DEC (the file name's 9999 is not where they are).
    assert_eq!(got, "healpix,n\n7108,1\n27247,1\n27258,2\n");
    // Exposures join on the key (desispec wrote no EXP_FIBERMAP for the 9999 pair).
    let got = query("SELECT c.targetid, count(*) AS nexp FROM catalog c JOIN exposures e USING (targetid, survey, program) GROUP BY c.targetid ORDER BY c.targetid").unwrap();
    assert_eq!(got, "targetid,nexp\n39089837499744649,20\n39633345008634465,30\n");
}

#[test]
fn the_ard_is_read_only() {
    for sql in [
        "CREATE TABLE t AS SELECT 1",
        "INSERT INTO catalog SELECT * FROM catalog",
        "COPY (SELECT 1) TO '/tmp/desi-ard-copy-test.csv'",
        "DROP TABLE catalog",
        "SET datafusion.execution.batch_size = 1",
    ] {
        let e = query(sql).unwrap_err().to_string();
        assert!(e.contains("read-only") || e.contains("not supported") || e.contains("not allowed"), "{sql}: {e}");
    }
    assert!(!Path::new("/tmp/desi-ard-copy-test.csv").exists());
}

#[test]
fn errors_name_what_is_wrong() {
    let e = query("SELECT no_such_column FROM catalog").unwrap_err().to_string();
    assert!(e.contains("no_such_column"), "{e}");
    let e = query("SELEC targetid FROM catalog").unwrap_err().to_string();
    assert!(e.contains("SQL error") && e.to_lowercase().contains("selec"), "{e}");
    let e = query("SELECT * FROM no_such_table").unwrap_err().to_string();
    assert!(e.contains("no_such_table"), "{e}");
    let e = query("SELECT * FROM cone_search(150, 100, 1)").unwrap_err().to_string();
    assert!(e.contains("dec 100"), "{e}");
    let e = query("SELECT * FROM cone_search(150, 2)").unwrap_err().to_string();
    assert!(e.contains("3 arguments"), "{e}");
    let e = ArdQuery::open(Path::new("/nonexistent/ard")).err().unwrap().to_string();
    assert!(e.contains("not an ARD"), "{e}");
}

#[test]
fn cone_search_and_angdist() {
    // TARGETID 39089837499744649 is at (149.465404, 1.793647).
    let got = query("SELECT targetid FROM cone_search(149.4654, 1.7936, 0.001)").unwrap();
    assert_eq!(got, "targetid\n39089837499744649\n");
    let got = query("SELECT count(*) AS n FROM cone_search(149.4654, 1.7936, 0.00001)").unwrap();
    assert_eq!(got, "n\n0\n");
    let got = query("SELECT round(angdist(0.0, 0.0, 90.0, 0.0), 9) AS d, round(angdist(10.0, 89.0, 190.0, 89.0), 9) AS p").unwrap();
    assert_eq!(got, "d,p\n90.0,2.0\n");
}

#[test]
fn predicates_prune_row_groups() {
    let q = ArdQuery::open(ard()).unwrap();
    let rows = q.sql("EXPLAIN ANALYZE SELECT count(*) FROM catalog WHERE healpix = 27247").unwrap();
    let text = ard_query::output::to_table(&rows).unwrap();
    // Three leaves (Npix 7108, 9999, 27247), one row group each: the healpix min/max
    // statistics ard-store writes must rule out the two that cannot match.
    assert!(text.contains("row_groups_pruned_statistics=3 total → 1 matched"), "{text}");
    let got = query("SELECT count(*) AS n FROM catalog WHERE healpix = 27247").unwrap();
    assert_eq!(got, "n\n1\n");
}

#[test]
fn output_formats() {
    let q = ArdQuery::open(ard()).unwrap();
    let rows = q.sql("SELECT targetid, survey, z, flux_r, zcat_primary, tsnr2_lrg FROM catalog ORDER BY targetid").unwrap();
    let d = tempfile::tempdir().unwrap();
    let json = write(&rows, Format::Json, None).unwrap().unwrap();
    assert!(json.starts_with("[{\"targetid\":39089837499744649"), "{json}");
    let table = write(&rows, Format::Table, None).unwrap().unwrap();
    assert!(table.contains("| targetid") && table.contains("39633345008634465"));
    let pq = d.path().join("r.parquet");
    write(&rows, Format::Parquet, Some(&pq)).unwrap();
    assert_eq!(ard_store::catalog::read_parquet(&pq).unwrap().num_rows(), 4);
    let fits = d.path().join("r.fits");
    write(&rows, Format::Fits, Some(&fits)).unwrap();
    let mut f = ard_fits::FitsFile::open(&fits).unwrap();
    f.move_to("RESULT").unwrap();
    let t = f.read_table().unwrap();
    assert_eq!(t.num_rows(), 4);
    assert_eq!(desi_io_like_i64(&t, "targetid")[3], 39633345008634465);
    assert!(write(&rows, Format::Fits, None).is_err(), "FITS needs an output file");
}

fn desi_io_like_i64(t: &arrow_array::RecordBatch, name: &str) -> Vec<i64> {
    use arrow_array::cast::AsArray;
    t.column_by_name(name).unwrap().as_primitive::<arrow_array::types::Int64Type>().values().to_vec()
}

#[test]
fn spectrum_by_targetid() {
    let q = ArdQuery::open(ard()).unwrap();
    let s = q.spectrum(39633345008634465, None, None).unwrap().unwrap();
    assert_eq!((s.survey.as_str(), s.program.as_str(), s.flux.len()), ("sv1", "bright", 7781));
    assert!((s.z - 0.368744).abs() < 1e-6);
    assert!(q.spectrum(39633345008634465, Some("main"), None).unwrap().is_none());
    assert!(q.spectrum(1, None, None).unwrap().is_none());
    let png = tempfile::tempdir().unwrap();
    let p = png.path().join("s.png");
    ard_query::plot::plot_spectrum(&p, "test", &s.wavelength, &s.flux, &s.ivar, s.array(ard_core::names::MODEL), s.z, 3).unwrap();
    assert!(std::fs::metadata(&p).unwrap().len() > 10_000);
}
