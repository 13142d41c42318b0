//! Real DR1 as DESI writes it (issue 15, item 2): the genuine-format pixel in
//! `testdata/dr1` (written by desispec `write_spectra` and redrock `write_zbest`, see its
//! README) holds sky, unassigned, badly positioned and standard-star fibres, a QSO, an SV3
//! target and TARGETIDs observed in several programs. The catalogue carries DESI's standard
//! columns, every layer refuses the fibres that are not usable science fibres with a
//! status saying why, and `zcat_primary`/`zcat_nspec` equal desispec's own
//! `zcatalog.find_primary_spectra` run on the same rows.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use arrow_array::RecordBatch;
use desi_io::columns::{optional_i64, optional_str};

const PIXEL: u64 = 27247;
const SKY: i64 = 2305843009213694954;
const UNASSIGNED: i64 = -3004001;
const BADPOS: i64 = 39627000000001004;
const STD: i64 = 39627000000001005;
const QSO: i64 = 39627000000001006;
const D: i64 = 39627000000001007;
const G1: i64 = 39627000000001001;
const SV3_LRG: i64 = 39627000000001010;

fn ingest_corpus() -> (tempfile::TempDir, RecordBatch) {
    ingest_corpus_with(&[])
}

/// The corpus ingested with extra `desi-ard ingest` flags.
fn ingest_corpus_with(flags: &[&str]) -> (tempfile::TempDir, RecordBatch) {
    let raw = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/dr1");
    let ard = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_desi-ard"))
        .args(["ingest", raw.to_str().expect("path"), ard.path().to_str().expect("path"), "--quiet"])
        .args(flags)
        .output()
        .expect("run desi-ard");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let leaf = ard_store::ArdLayout::new(ard.path()).catalog_leaf(PIXEL);
    let batch = ard_store::catalog::read_parquet(&leaf).expect("leaf");
    (ard, batch)
}

/// Rows keyed by (targetid, survey, program).
struct Rows<'a> {
    batch: &'a RecordBatch,
    index: BTreeMap<(i64, String, String), usize>,
}

impl<'a> Rows<'a> {
    fn new(batch: &'a RecordBatch) -> Self {
        let ids = optional_i64(batch, "targetid").expect("targetid");
        let surveys = optional_str(batch, "survey").expect("survey");
        let programs = optional_str(batch, "program").expect("program");
        let index = (0..batch.num_rows()).map(|i| ((ids[i], surveys[i].clone(), programs[i].clone()), i)).collect();
        Rows { batch, index }
    }

    fn row(&self, id: i64, survey: &str, program: &str) -> usize {
        *self.index.get(&(id, survey.into(), program.into())).unwrap_or_else(|| panic!("no row {id} {survey}/{program}"))
    }

    fn str(&self, col: &str, id: i64, survey: &str, program: &str) -> Option<String> {
        let a = self.batch.column_by_name(col).unwrap_or_else(|| panic!("no column {col}"));
        let r = self.row(id, survey, program);
        ard_core::columns::nullable_str(self.batch, col).expect("string column")[r].clone().filter(|_| arrow_array::Array::is_valid(a, r))
    }

    fn int(&self, col: &str, id: i64, survey: &str, program: &str) -> Option<i64> {
        assert!(self.batch.column_by_name(col).is_some(), "no column {col}");
        ard_core::columns::nullable_i64(self.batch, col).expect("integer column")[self.row(id, survey, program)]
    }

    fn float(&self, col: &str, id: i64, survey: &str, program: &str) -> Option<f64> {
        assert!(self.batch.column_by_name(col).is_some(), "no column {col}");
        ard_core::columns::nullable_f64(self.batch, col).expect("numeric column")[self.row(id, survey, program)]
    }
}

#[test]
fn standard_columns_fibre_cuts_and_null_main_bits_off_main() {
    let (_ard, batch) = ingest_corpus();
    assert_eq!(batch.num_rows(), 11);
    let r = Rows::new(&batch);
    // DESI's standard columns, as the FIBERMAP and SCORES hold them.
    assert_eq!(r.str("objtype", SKY, "main", "dark").as_deref(), Some("SKY"));
    assert_eq!(r.str("objtype", UNASSIGNED, "main", "dark").as_deref(), Some("BAD"));
    assert_eq!(r.int("coadd_fiberstatus", UNASSIGNED, "main", "dark"), Some(3)); // UNASSIGNED | STUCKPOSITIONER
    assert_eq!(r.int("coadd_fiberstatus", BADPOS, "main", "dark"), Some(512)); // BADPOSITION
    assert_eq!(r.int("fa_type", STD, "main", "dark"), Some(2));
    assert_eq!(r.int("maskbits", STD, "main", "dark"), Some(4096));
    assert_eq!(r.str("photsys", QSO, "main", "dark").as_deref(), Some("N"));
    for (col, scale) in [("tsnr2_bgs", 0.1), ("tsnr2_elg", 0.5), ("tsnr2_lrg", 1.0), ("tsnr2_qso", 0.05), ("tsnr2_lya", 0.2)] {
        let v = r.float(col, D, "main", "dark").unwrap_or_else(|| panic!("{col} null"));
        assert!((v - 200.0 * scale).abs() < 1e-3, "{col} = {v}");
    }
    // Main-survey bits are null off the main survey (desispec wrote 0), kept on main rows.
    for col in ["desi_target", "bgs_target", "mws_target", "scnd_target"] {
        assert_eq!(r.int(col, SV3_LRG, "sv3", "dark"), None, "{col} of the SV3 row");
    }
    assert_eq!(r.int("sv3_desi_target", SV3_LRG, "sv3", "dark"), Some(1)); // SV3 LRG bit
    assert_eq!(r.int("sv3_mws_target", SV3_LRG, "sv3", "dark"), Some(0));
    assert_eq!(r.int("sv2_mws_target", SV3_LRG, "sv3", "dark"), None);
    assert_eq!(r.int("desi_target", STD, "main", "dark"), Some(1 << 33)); // STD_FAINT
    assert_eq!(r.int("sv3_desi_target", STD, "main", "dark"), None);
    // Every layer refuses the fibres that are not usable science fibres, whatever redrock
    // said (the sky fibre has ZWARN 0 and a redshift), and says why.
    for col in ["physics_status", "pca_status"] {
        assert_eq!(r.str(col, SKY, "main", "dark").as_deref(), Some("not_science_fibre"), "{col}");
        assert_eq!(r.str(col, UNASSIGNED, "main", "dark").as_deref(), Some("not_science_fibre"), "{col}");
        assert_eq!(r.str(col, BADPOS, "main", "dark").as_deref(), Some("bad_fibre"), "{col}");
        assert_eq!(r.str(col, D, "main", "dark").as_deref(), Some("zwarn"), "{col}");
        assert_eq!(r.str(col, D, "main", "bright").as_deref(), Some("ok"), "{col}");
    }
    assert_eq!(r.str("physics_status", STD, "main", "dark").as_deref(), Some("not_galaxy"));
    assert_eq!(r.str("physics_status", QSO, "main", "dark").as_deref(), Some("not_galaxy"));
    assert_eq!(r.str("pca_status", QSO, "main", "dark").as_deref(), Some("ok"));
    // DESI's primary rule: ZWARN = 0 beats a higher TSNR2_LRG; across surveys too.
    let primary = |id, s, p| r.int("zcat_primary", id, s, p);
    assert_eq!((primary(D, "main", "bright"), primary(D, "main", "dark")), (Some(1), Some(0)));
    assert_eq!((primary(G1, "sv3", "dark"), primary(G1, "main", "dark")), (Some(1), Some(0)));
    assert_eq!(r.int("zcat_nspec", D, "main", "dark"), Some(2));
}

/// `zcat_primary` and `zcat_nspec` equal desispec 0.70.0's `find_primary_spectra` on the
/// catalogue's own (TARGETID, ZWARN, TSNR2_LRG) rows.
#[test]
fn zcat_primary_equals_desispec_find_primary_spectra() {
    let Some(python) = ard_testkit::peer_python() else { return };
    let (_ard, batch) = ingest_corpus();
    let ids = optional_i64(&batch, "targetid").expect("targetid");
    let zwarn = optional_i64(&batch, "zwarn").expect("zwarn");
    let tsnr = ard_core::columns::nullable_f64(&batch, "tsnr2_lrg").expect("tsnr2_lrg");
    let ours_primary = optional_i64(&batch, "zcat_primary").expect("zcat_primary");
    let ours_nspec = optional_i64(&batch, "zcat_nspec").expect("zcat_nspec");
    let rows: Vec<String> =
        (0..batch.num_rows()).map(|i| format!("[{}, {}, {}]", ids[i], zwarn[i], tsnr[i].expect("every corpus row has SCORES"))).collect();
    let script = format!(
        "import json, numpy as np\nfrom astropy.table import Table\nfrom desispec.zcatalog import find_primary_spectra\n\
         rows = {}\n\
         t = Table({{'TARGETID': np.array([r[0] for r in rows], dtype=np.int64), 'ZWARN': np.array([r[1] for r in rows], dtype=np.int64), 'TSNR2_LRG': np.array([r[2] for r in rows], dtype=np.float32)}})\n\
         nspec, primary = find_primary_spectra(t)\n\
         print(json.dumps({{'nspec': [int(x) for x in nspec], 'primary': [bool(x) for x in primary]}}))\n",
        format_args!("[{}]", rows.join(", "))
    );
    let out = Command::new(&python).args(["-c", &script]).env("DESI_LOGLEVEL", "WARNING").output().expect("run python");
    assert!(out.status.success(), "desispec: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().expect("desispec printed nothing");
    let theirs: serde_json::Value = serde_json::from_str(line).expect("json");
    for i in 0..batch.num_rows() {
        assert_eq!(theirs["primary"][i].as_bool(), Some(ours_primary[i] == 1), "zcat_primary of row {i} (TARGETID {})", ids[i]);
        assert_eq!(theirs["nspec"][i].as_i64(), Some(ours_nspec[i]), "zcat_nspec of row {i} (TARGETID {})", ids[i]);
    }
    // The case that was wrong before: the higher-TSNR2 copy of D has ZWARN != 0.
    let d_rows: Vec<usize> = (0..batch.num_rows()).filter(|&i| ids[i] == D).collect();
    assert_eq!(d_rows.len(), 2);
    assert_eq!(d_rows.iter().filter(|&&i| theirs["primary"][i].as_bool() == Some(true) && zwarn[i] == 0).count(), 1);
}

/// Issue 15, item 3: discovery as DR1 mirrors are laid out — `coadd-*.fits.gz` (with a
/// gzip'd redrock partner; cfitsio inflates them in memory), a pixel folder reached through a
/// symbolic link (walked once, however many links reach it), and a symbolic-link loop
/// (reported by name, not followed; ingest exits 3 for it, the pixel is written).
#[test]
fn gzipped_coadds_and_symlinked_folders() {
    let dir = tempfile::tempdir().expect("temp dir");
    let raw = dir.path().join("raw");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/dr1");
    let copy = Command::new("cp").arg("-r").arg(&corpus).arg(&raw).status().expect("cp");
    assert!(copy.success());
    let bright = raw.join("healpix/main/bright/272/27247");
    for f in ["coadd-main-bright-27247.fits", "redrock-main-bright-27247.fits"] {
        assert!(Command::new("gzip").arg(bright.join(f)).status().expect("gzip").success());
    }
    // sv3 lives elsewhere and is linked in twice; a link points back up the tree.
    let elsewhere = dir.path().join("other-disk");
    std::fs::rename(raw.join("healpix/sv3"), &elsewhere).expect("move sv3");
    std::os::unix::fs::symlink(&elsewhere, raw.join("healpix/sv3")).expect("link");
    std::os::unix::fs::symlink(&elsewhere, raw.join("healpix/sv3-again")).expect("link");
    std::os::unix::fs::symlink(raw.join("healpix"), raw.join("healpix/main/loop")).expect("link");
    let ard = dir.path().join("ard");
    let out = Command::new(env!("CARGO_BIN_EXE_desi-ard"))
        .args(["ingest", raw.to_str().unwrap(), ard.to_str().unwrap(), "--quiet", "--no-physics", "--no-zcatalog"])
        .output()
        .expect("run desi-ard");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("main/loop") && text.contains("symbolic link loop"), "{text}");
    let leaf = ard_store::catalog::read_parquet(&ard_store::ArdLayout::new(&ard).catalog_leaf(PIXEL)).expect("leaf");
    let r = Rows::new(&leaf);
    assert_eq!(leaf.num_rows(), 11, "every coadd once");
    assert_eq!(r.float("z", D, "main", "bright").map(|z| (z * 1e6).round() / 1e6), Some(0.4), "read from the gzip'd redrock file");
    assert_eq!(r.str("z_source", D, "main", "bright").as_deref(), Some("redrock-main-bright-27247.fits.gz[REDSHIFTS] Z"));
    assert_eq!(r.str("objtype", SV3_LRG, "sv3", "dark").as_deref(), Some("TGT"));
}

/// Issue 15, item 3: a coadd whose redrock file is missing (and no zcatalog row) is
/// reported — a warning, a manifest note and `no_redshift_file` on its rows — not silently
/// given null redshifts.
#[test]
fn a_coadd_without_its_redrock_file_is_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let raw = dir.path().join("raw");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/dr1");
    assert!(Command::new("cp").arg("-r").arg(&corpus).arg(&raw).status().expect("cp").success());
    std::fs::remove_file(raw.join("healpix/sv3/dark/272/27247/redrock-sv3-dark-27247.fits")).expect("remove");
    let ard = dir.path().join("ard");
    let out = Command::new(env!("CARGO_BIN_EXE_desi-ard"))
        .args(["ingest", raw.to_str().unwrap(), ard.to_str().unwrap(), "--quiet", "--no-zcatalog"])
        .output()
        .expect("run desi-ard");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("coadd-sv3-dark-27247.fits: no redshift file"), "{text}");
    let layout = ard_store::ArdLayout::new(&ard);
    let rec = ard_store::manifest::PixelRecord::read(&layout, PIXEL).expect("manifest").expect("record");
    assert!(
        rec.notes.iter().any(|n| n.targetid == 0 && n.file.ends_with("coadd-sv3-dark-27247.fits") && n.note.contains("no redshift file")),
        "{:?}",
        rec.notes
    );
    let leaf = ard_store::catalog::read_parquet(&layout.catalog_leaf(PIXEL)).expect("leaf");
    let r = Rows::new(&leaf);
    for col in ["physics_status", "pca_status"] {
        assert_eq!(r.str(col, SV3_LRG, "sv3", "dark").as_deref(), Some("no_redshift_file"), "{col}");
    }
    assert_eq!(r.float("z", SV3_LRG, "sv3", "dark"), None);
    assert_eq!(r.str("z_source", SV3_LRG, "sv3", "dark"), None);
    assert_eq!(r.str("physics_status", D, "main", "bright").as_deref(), Some("ok"));
}

/// Issue 15, item 3: `ingest --zcatalog` takes every redshift from DR1's `zall-pix` — read
/// once per run, in place of the redrock files (here deleted, so nothing else could give
/// them) — with the same values the redrock files give, and the zcatalog recorded as an
/// input of the pixel.
#[test]
fn ingest_with_zall_pix_in_place_of_redrock_files() {
    let (_plain, with_redrock) = ingest_corpus_with(&["--no-zcatalog"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let raw = dir.path().join("raw");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/dr1");
    assert!(Command::new("cp").arg("-r").arg(&corpus).arg(&raw).status().expect("cp").success());
    for (s, p) in [("main", "dark"), ("main", "bright"), ("sv3", "dark")] {
        std::fs::remove_file(raw.join(format!("healpix/{s}/{p}/272/27247/redrock-{s}-{p}-27247.fits"))).expect("remove");
    }
    let zall = raw.join("zcatalog/v1/zall-pix-iron.fits");
    let ard = dir.path().join("ard");
    let out = Command::new(env!("CARGO_BIN_EXE_desi-ard"))
        .args(["ingest", raw.to_str().unwrap(), ard.to_str().unwrap(), "--quiet", "--zcatalog", zall.to_str().unwrap()])
        .output()
        .expect("run desi-ard");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let layout = ard_store::ArdLayout::new(&ard);
    let leaf = ard_store::catalog::read_parquet(&layout.catalog_leaf(PIXEL)).expect("leaf");
    let (a, b) = (Rows::new(&leaf), Rows::new(&with_redrock));
    assert_eq!(leaf.num_rows(), with_redrock.num_rows());
    for key in b.index.keys() {
        let (id, s, p) = key;
        for col in ["z", "zwarn"] {
            assert_eq!(a.float(col, *id, s, p), b.float(col, *id, s, p), "{col} of {id} {s}/{p}");
        }
        for col in ["zcat_primary", "zcat_nspec"] {
            assert_eq!(a.int(col, *id, s, p), b.int(col, *id, s, p), "{col} of {id} {s}/{p}");
        }
        for col in ["physics_status", "pca_status"] {
            assert_eq!(a.str(col, *id, s, p), b.str(col, *id, s, p), "{col} of {id} {s}/{p}");
        }
        assert_eq!(a.str("z_source", *id, s, p).as_deref(), Some("zall-pix-iron.fits[ZCATALOG] Z"));
        assert_eq!(b.str("z_source", *id, s, p), Some(format!("redrock-{s}-{p}-27247.fits[REDSHIFTS] Z")));
    }
    let rec = ard_store::manifest::PixelRecord::read(&layout, PIXEL).expect("manifest").expect("record");
    assert!(rec.inputs.iter().any(|i| i.path.ends_with("zall-pix-iron.fits")), "{:?}", rec.inputs);
    // A file that is not a zcatalog is refused by name.
    let out = Command::new(env!("CARGO_BIN_EXE_desi-ard"))
        .args(["ingest", raw.to_str().unwrap(), ard.to_str().unwrap(), "--quiet", "--zcatalog", "redrock.fits"])
        .output()
        .expect("run desi-ard");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("not a zcatalog name"));
}

/// Issue 15, item 3: without `--zcatalog`, the zcatalog DR1 publishes beside the tree
/// (`ROOT/zcatalog/v1/`) takes precedence — its `zall-pix-*.fits`, or failing that each
/// input's `zpix-SURVEY-PROGRAM.fits` (here a v2 file, read under its `Z_BEST` name) with
/// the redrock files for the rest — and `z_source` names the file and column of each row;
/// `--no-zcatalog` keeps the redrock files.
#[test]
fn the_published_zcatalog_beside_the_tree_is_found() {
    let (_ard, auto) = ingest_corpus();
    let r = Rows::new(&auto);
    for (id, s, p) in r.index.keys() {
        assert_eq!(r.str("z_source", *id, s, p).as_deref(), Some("zall-pix-iron.fits[ZCATALOG] Z"), "{id} {s}/{p}");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let raw = dir.path().join("raw");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/dr1");
    assert!(Command::new("cp").arg("-r").arg(&corpus).arg(&raw).status().expect("cp").success());
    std::fs::remove_file(raw.join("zcatalog/v1/zall-pix-iron.fits")).expect("remove");
    std::fs::rename(raw.join("zcatalog/v2/zpix-main-dark.fits"), raw.join("zcatalog/v1/zpix-main-dark.fits")).expect("move");
    let ard = dir.path().join("ard");
    let out = Command::new(env!("CARGO_BIN_EXE_desi-ard"))
        .args(["ingest", raw.join("healpix").to_str().unwrap(), ard.to_str().unwrap(), "--quiet", "--no-physics"])
        .output()
        .expect("run desi-ard");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let leaf = ard_store::catalog::read_parquet(&ard_store::ArdLayout::new(&ard).catalog_leaf(PIXEL)).expect("leaf");
    let z = Rows::new(&leaf);
    assert_eq!(
        z.str("z_source", D, "main", "dark").as_deref(),
        Some("zpix-main-dark.fits[ZCATALOG] Z_BEST"),
        "raw root = healpix/: its parent's zcatalog"
    );
    assert_eq!(z.int("zwarn", D, "main", "dark"), Some(4));
    assert_eq!(z.str("z_source", D, "main", "bright").as_deref(), Some("redrock-main-bright-27247.fits[REDSHIFTS] Z"));
    let (_ard, redrock) = ingest_corpus_with(&["--no-zcatalog"]);
    let r = Rows::new(&redrock);
    assert_eq!(r.str("z_source", D, "main", "dark").as_deref(), Some("redrock-main-dark-27247.fits[REDSHIFTS] Z"));
}

/// Issue 15, item 3: a zcatalog v2 base file with its `-extra` companion beside it gives
/// `z_conf` and the `good_z_*` flags (the `-extra` file is an input of the pixel: changing
/// it re-runs the pixel); rows without a v2 zcatalog have them null; `--zcatalog` refuses a
/// companion named in place of its base file.
#[test]
fn a_v2_zcatalog_brings_its_extra_companion() {
    let dir = tempfile::tempdir().expect("temp dir");
    let raw = dir.path().join("raw");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/dr1");
    assert!(Command::new("cp").arg("-r").arg(&corpus).arg(&raw).status().expect("cp").success());
    std::fs::remove_file(raw.join("zcatalog/v1/zall-pix-iron.fits")).expect("remove");
    for f in ["zpix-main-dark.fits", "zpix-main-dark-extra.fits"] {
        std::fs::rename(raw.join("zcatalog/v2").join(f), raw.join("zcatalog/v1").join(f)).expect("move");
    }
    let ard = dir.path().join("ard");
    let ingest = || {
        let out = Command::new(env!("CARGO_BIN_EXE_desi-ard"))
            .args(["ingest", raw.to_str().unwrap(), ard.to_str().unwrap(), "--quiet", "--no-physics"])
            .output()
            .expect("run desi-ard");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{text}");
        text
    };
    ingest();
    let leaf = ard_store::catalog::read_parquet(&ard_store::ArdLayout::new(&ard).catalog_leaf(PIXEL)).expect("leaf");
    let r = Rows::new(&leaf);
    assert_eq!(r.str("z_source", G1, "main", "dark").as_deref(), Some("zpix-main-dark.fits[ZCATALOG] Z_BEST"));
    let flags = |id: i64, s: &str, p: &str| {
        (r.int("z_conf", id, s, p), r.int("good_z_lrg", id, s, p), r.int("good_z_qso", id, s, p), r.int("good_z_bgs", id, s, p))
    };
    assert_eq!(flags(G1, "main", "dark"), (Some(3), Some(1), Some(0), Some(0)));
    assert_eq!(flags(QSO, "main", "dark"), (Some(3), Some(0), Some(1), Some(0)));
    assert_eq!(flags(D, "main", "dark"), (Some(0), Some(0), Some(0), Some(0)), "ZWARN 4: no confidence");
    assert_eq!(flags(D, "main", "bright"), (None, None, None, None), "main/bright has its redrock file only");
    // The companion is an input: a change to it re-runs the pixel.
    assert!(ingest().contains("0 processed"));
    let extra = raw.join("zcatalog/v1/zpix-main-dark-extra.fits");
    let bytes = std::fs::read(&extra).expect("read");
    std::fs::write(&extra, [&bytes[..], &[0u8; 2880][..]].concat()).expect("touch");
    assert!(ingest().contains("1 processed"), "a changed -extra file re-runs its pixel");
    let out = Command::new(env!("CARGO_BIN_EXE_desi-ard"))
        .args(["ingest", raw.to_str().unwrap(), ard.to_str().unwrap(), "--zcatalog", extra.to_str().unwrap()])
        .output()
        .expect("run desi-ard");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("companion") && err.contains("base file"), "{err}");
}

/// Issue 15, item 5: the afterburners beside a coadd (`emline-*`, `qso_mgii-*`,
/// `qso_qn-*`) and the fastspecfit VACs given with `--vac` are joined on (TARGETID,
/// survey, program) as the `rr_*`, `mgii_*`, `qn_*` and `fsf_*` columns; an absent file or
/// row gives nulls; an unreadable afterburner gives nulls and a note, not a failure; a
/// file that is not a VAC is refused by name. Values are those `make_dr1_joins.py` wrote.
#[test]
fn afterburners_and_fastspec_vacs_are_joined() {
    let vac = |p: &str| Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../testdata/dr1/vac/fastspec-iron-main-{p}.fits"));
    let (dark, bright) = (vac("dark"), vac("bright"));
    let (_ard, batch) = ingest_corpus_with(&["--vac", dark.to_str().unwrap(), "--vac", bright.to_str().unwrap()]);
    let r = Rows::new(&batch);
    let close = |v: Option<f64>, want: f64| v.is_some_and(|v| (v - want).abs() < 1e-4);
    // emline: HALPHA_FLUX = 60 + the redrock row (G1 row 0, QSO row 5); BADPOS has no row.
    assert!(close(r.float("rr_halpha_flux", G1, "main", "dark"), 60.0));
    assert!(close(r.float("rr_halpha_flux", QSO, "main", "dark"), 65.0));
    assert_eq!(r.float("rr_halpha_flux", BADPOS, "main", "dark"), None);
    // No afterburner files in main/bright and sv3/dark: nulls.
    assert_eq!(r.float("rr_oii_flux", D, "main", "bright"), None);
    assert_eq!(r.float("rr_oii_flux", G1, "sv3", "dark"), None);
    assert_eq!(r.int("mgii_is_qso_mgii", QSO, "main", "dark"), Some(1));
    assert_eq!(r.int("mgii_is_qso_mgii", G1, "main", "dark"), Some(0));
    assert!(close(r.float("qn_z_new", QSO, "main", "dark"), 2.12));
    // fastspec: the same TARGETID in two programs gets each program's row.
    assert!(close(r.float("fsf_logmstar", G1, "main", "dark"), 10.8));
    assert!(close(r.float("fsf_logmstar", D, "main", "dark"), 11.1));
    assert!(close(r.float("fsf_logmstar", D, "main", "bright"), 10.2));
    assert!(close(r.float("fsf_vdisp", G1, "main", "dark"), 208.0));
    assert!(close(r.float("fsf_halpha_flux", G1, "main", "dark"), 54.0));
    assert_eq!(r.float("fsf_logmstar", G1, "sv3", "dark"), None);
    // Without --vac the columns are there, null.
    let (_plain, plain) = ingest_corpus();
    let p = Rows::new(&plain);
    assert_eq!(p.float("fsf_logmstar", G1, "main", "dark"), None);
    assert!(close(p.float("rr_halpha_flux", G1, "main", "dark"), 60.0));

    // An unreadable emline file beside good ones: the coadd is still ingested, rr_* null,
    // and the manifest notes which file and why.
    let dir = tempfile::tempdir().expect("temp dir");
    let raw = dir.path().join("raw");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/dr1");
    assert!(Command::new("cp").arg("-r").arg(&corpus).arg(&raw).status().expect("cp").success());
    std::fs::write(raw.join("healpix/main/dark/272/27247/emline-main-dark-27247.fits"), b"not FITS at all").expect("garbage");
    let ard = dir.path().join("ard");
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_desi-ard"))
            .args(["ingest", raw.to_str().unwrap(), ard.to_str().unwrap(), "--quiet", "--no-physics"])
            .args(extra)
            .output()
            .expect("run desi-ard")
    };
    let out = run(&[]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let layout = ard_store::ArdLayout::new(&ard);
    let leaf = ard_store::catalog::read_parquet(&layout.catalog_leaf(PIXEL)).expect("leaf");
    let g = Rows::new(&leaf);
    assert_eq!(g.float("rr_halpha_flux", G1, "main", "dark"), None);
    assert!(close(g.float("qn_z_new", QSO, "main", "dark"), 2.12), "the other afterburners still join");
    let rec = ard_store::manifest::PixelRecord::read(&layout, PIXEL).expect("manifest").expect("record");
    assert!(
        rec.notes.iter().any(|n| n.note.contains("emline not joined") && n.note.contains("emline-main-dark-27247.fits")),
        "{:?}",
        rec.notes
    );
    // A VAC given later re-runs the pixel; a file that is not a VAC is refused by name.
    let out = run(&["--vac", dark.to_str().unwrap()]);
    assert!(out.status.success());
    let leaf = ard_store::catalog::read_parquet(&layout.catalog_leaf(PIXEL)).expect("leaf");
    assert!(close(Rows::new(&leaf).float("fsf_logmstar", G1, "main", "dark"), 10.8), "the pixel was re-run with the VAC");
    let not_vac = raw.join("zcatalog/v1/zall-pix-iron.fits");
    let out = run(&["--vac", not_vac.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("zall-pix-iron.fits") && err.contains("not a fastspecfit VAC"), "{err}");
}
