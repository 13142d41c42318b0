//! Redshift tables: redrock `REDSHIFTS` (per coadd) and DESI's zcatalogs, HDU `ZCATALOG`:
//! `zpix-<survey>-<program>.fits` (one row per TARGETID per survey/program),
//! `zall-pix-<specprod>.fits` (every survey and program in one file, told apart by its
//! SURVEY and PROGRAM columns) and the tile-based `ztile-*` (one row per TARGETID per tile:
//! joined on (TARGETID, TILEID), never TARGETID alone). Columns come from the header; only
//! TARGETID, Z, ZERR, ZWARN, SPECTYPE are required. zcatalog v2 names its redrock columns
//! `Z_BEST`, `ZWARN_BEST`, `SPECTYPE_BEST`, ...: they are read under the v1 names; its
//! `-extra` companion, when beside the base file, adds the GOOD_Z flags ([`v2_companion`]).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{BooleanArray, RecordBatch, UInt32Array};

use crate::columns::{column_i64, optional_str};
use crate::error::{DesiIoError, Result};

/// A redshift table read from a file.
#[derive(Debug, Clone)]
pub struct RedshiftTable {
    /// The file.
    pub path: PathBuf,
    /// The HDU it came from (`REDSHIFTS` or `ZCATALOG`).
    pub hdu: String,
    /// The rows (v2 `*_BEST` columns under their v1 names).
    pub table: RecordBatch,
    /// The column the redshifts came from (`Z`, or `Z_BEST` in a v2 zcatalog).
    pub z_column: String,
}

/// zcatalog v2 suffixes its redrock columns: `Z_BEST` etc. Each `NAME_BEST` is renamed
/// `NAME` where the table has no `NAME` (so a v1 file reads unchanged).
fn with_v1_names(table: RecordBatch) -> RecordBatch {
    let schema = table.schema();
    let names: std::collections::HashSet<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let fields: Vec<arrow_schema::FieldRef> = schema
        .fields()
        .iter()
        .map(|f| match f.name().strip_suffix("_BEST") {
            Some(base) if !names.contains(base) => std::sync::Arc::new(f.as_ref().clone().with_name(base)),
            _ => f.clone(),
        })
        .collect();
    let renamed = arrow_schema::Schema::new_with_metadata(fields, schema.metadata().clone());
    // Same columns, same types: only the names differ, so this cannot fail.
    RecordBatch::try_new(std::sync::Arc::new(renamed), table.columns().to_vec()).unwrap_or(table)
}

/// Schema-metadata key of a redshift table (and of every row selection of it) naming where
/// its redshifts came from: `FILE[HDU] COLUMN` (the catalogue's `z_source`).
pub const Z_SOURCE_KEY: &str = "desi_ard.z_source";

const REQUIRED: [&str; 5] = ["TARGETID", "Z", "ZERR", "ZWARN", "SPECTYPE"];

fn read_hdu(path: &Path, hdu: &str) -> Result<RedshiftTable> {
    let mut f = ard_fits::FitsFile::open(path)?;
    f.move_to(hdu)?;
    let table = f.read_table()?;
    redshift_table(path, hdu, table)
}

/// The checks and v1 names every redshift table gets, however it was read.
fn redshift_table(path: &Path, hdu: &str, table: RecordBatch) -> Result<RedshiftTable> {
    let z_column = if table.column_by_name("Z").is_none() && table.column_by_name("Z_BEST").is_some() { "Z_BEST" } else { "Z" };
    let table = with_v1_names(table);
    let file = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let mut meta = table.schema().metadata().clone();
    meta.insert(Z_SOURCE_KEY.into(), format!("{file}[{hdu}] {z_column}"));
    let schema = std::sync::Arc::new(table.schema().as_ref().clone().with_metadata(meta));
    let rows = arrow_array::RecordBatchOptions::new().with_row_count(Some(table.num_rows()));
    let table = RecordBatch::try_new_with_options(schema, table.columns().to_vec(), &rows).map_err(|source| DesiIoError::Arrow {
        path: path.into(),
        context: "recording the redshift source",
        source,
    })?;
    for c in REQUIRED {
        if table.column_by_name(c).is_none() {
            return Err(DesiIoError::MissingColumn { path: path.into(), hdu: hdu.into(), column: c.into() });
        }
    }
    Ok(RedshiftTable { path: path.into(), hdu: hdu.into(), table, z_column: z_column.into() })
}

/// Reads the `REDSHIFTS` HDU of a redrock file.
pub fn read_redrock(path: impl AsRef<Path>) -> Result<RedshiftTable> {
    read_hdu(path.as_ref(), "REDSHIFTS")
}

/// Whether a file name is a zcatalog's (`zpix-*`, `ztile-*`, `zall-*`), whose table is
/// the `ZCATALOG` HDU, rather than a redrock file's.
pub fn is_zcatalog_name(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| ["zpix-", "ztile-", "zall-"].iter().any(|p| n.starts_with(p)))
}

/// The zcatalog columns desi-ard uses: the redshift fit (v1 and v2 names), the keys rows
/// are joined on, and what gives a row's pixel. The rest of a zcatalog (≈ 120 columns
/// of targeting and photometry, which the coadd's FIBERMAP already holds) is never read.
pub const ZCATALOG_COLUMNS: [&str; 20] = [
    "TARGETID",
    "SURVEY",
    "PROGRAM",
    "TILEID",
    "HEALPIX",
    "TARGET_RA",
    "TARGET_DEC",
    "Z",
    "ZERR",
    "ZWARN",
    "SPECTYPE",
    "SUBTYPE",
    "DELTACHI2",
    "Z_BEST",
    "ZERR_BEST",
    "ZWARN_BEST",
    "SPECTYPE_BEST",
    "SUBTYPE_BEST",
    "DELTACHI2_BEST",
    "Z_CONF",
];

/// The columns read from a v2 zcatalog's `-extra` companion: DESI's per-tracer redshift
/// quality flags (desidatamodel `zcatalog/v2/zpix-SURVEY-PROGRAM-extra`: true for a
/// BGS/LRG/ELG/QSO target whose redshift passes the LSS quality cuts).
pub const V2_EXTRA_COLUMNS: [&str; 4] = ["GOOD_Z_BGS", "GOOD_Z_LRG", "GOOD_Z_ELG", "GOOD_Z_QSO"];

/// zcatalog v2 splits a catalogue over a base file and two companions whose rows are
/// those of the base, in the same order: `NAME-extra.fits` (HDU `ZCATALOG_EXTRA`: full
/// redrock output, TSNR2, afterburners, the GOOD_Z flags) and `NAME-imaging.fits`
/// (`ZCATALOG_IMAGING`: Legacy Surveys photometry). The companion of `base` of this
/// `kind` (`extra` or `imaging`).
pub fn v2_companion(base: &Path, kind: &str) -> PathBuf {
    let name = base.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let stem = name.strip_suffix(".fits.gz").or_else(|| name.strip_suffix(".fits")).unwrap_or(name);
    base.with_file_name(format!("{stem}-{kind}.fits"))
}

/// Whether a file is a v2 companion (`*-extra.fits`, `*-imaging.fits`), not a base zcatalog.
pub fn is_v2_companion(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let stem = name.strip_suffix(".gz").unwrap_or(name);
    stem.ends_with("-extra.fits") || stem.ends_with("-imaging.fits")
}

/// The companions of a base zcatalog this reader joins, when they exist beside it: the
/// `-extra` file ([`V2_EXTRA_COLUMNS`]). The `-imaging` file is not read: its columns
/// repeat the photometry of the coadd's FIBERMAP, which the catalogue takes from there.
pub fn v2_companions_present(base: &Path) -> Vec<PathBuf> {
    let extra = v2_companion(base, "extra");
    if extra.is_file() {
        vec![extra]
    } else {
        Vec::new()
    }
}

/// A v2 `-extra` companion opened beside its base file.
struct ExtraCompanion {
    file: ard_fits::FitsFile,
    path: PathBuf,
}

impl ExtraCompanion {
    /// Opens `base`'s `-extra` file when it exists; its row count must be the base's.
    fn open(base: &Path, base_rows: u64) -> Result<Option<Self>> {
        let Some(path) = v2_companions_present(base).into_iter().next() else { return Ok(None) };
        let mut file = ard_fits::FitsFile::open(&path)?;
        file.move_to("ZCATALOG_EXTRA")?;
        let rows = file.table_rows()?;
        if rows != base_rows {
            return Err(DesiIoError::Shape {
                path,
                hdu: "ZCATALOG_EXTRA".into(),
                expected: format!("{base_rows} rows, one per row of {}", base.display()),
                found: vec![rows as usize],
            });
        }
        Ok(Some(ExtraCompanion { file, path }))
    }

    /// `chunk` (rows `rows` of the base) with the companion's flags of the same rows
    /// appended; the TARGETIDs must agree row by row.
    fn join(&mut self, base: &Path, chunk: RecordBatch, rows: std::ops::Range<u64>) -> Result<RecordBatch> {
        let mut wanted = vec!["TARGETID"];
        wanted.extend(V2_EXTRA_COLUMNS);
        let extra = self.file.read_table_rows(Some(&wanted), rows.clone())?;
        let mine = column_i64(&chunk, "TARGETID", base, "ZCATALOG")?;
        let theirs = column_i64(&extra, "TARGETID", &self.path, "ZCATALOG_EXTRA")?;
        if let Some(k) = (0..mine.len()).find(|&k| mine.get(k) != theirs.get(k)) {
            return Err(DesiIoError::Metadata {
                path: self.path.clone(),
                message: format!(
                    "row {} has TARGETID {:?} where {} has {}: a v2 companion's rows must be its base file's, in order",
                    rows.start + k as u64,
                    theirs.get(k),
                    base.display(),
                    mine[k]
                ),
            });
        }
        let mut fields: Vec<arrow_schema::FieldRef> = chunk.schema().fields().iter().cloned().collect();
        let mut columns = chunk.columns().to_vec();
        for name in V2_EXTRA_COLUMNS {
            if let (Ok(i), true) = (extra.schema().index_of(name), chunk.column_by_name(name).is_none()) {
                fields.push(Arc::new(extra.schema().field(i).clone()));
                columns.push(extra.column(i).clone());
            }
        }
        let schema = Arc::new(arrow_schema::Schema::new_with_metadata(fields, chunk.schema().metadata().clone()));
        RecordBatch::try_new(schema, columns).map_err(|source| DesiIoError::Arrow {
            path: self.path.clone(),
            context: "joining a v2 companion's columns",
            source,
        })
    }
}

/// Rows read from a zcatalog at a time: with the 20 columns above, a chunk is ≈ 40 MB
/// whatever the file's length.
pub const ZCATALOG_CHUNK_ROWS: u64 = 262_144;

/// Reads the `ZCATALOG` HDU of a DR1 zcatalog file (the [`ZCATALOG_COLUMNS`], every row).
pub fn read_zcatalog(path: impl AsRef<Path>) -> Result<RedshiftTable> {
    read_zcatalog_for_pixels(path, None)
}

/// Reads the [`ZCATALOG_COLUMNS`] of a zcatalog in chunks of [`ZCATALOG_CHUNK_ROWS`] rows,
/// keeping only the rows in `pixels` (nside-64 nested healpix, DESI's pixels; all rows
/// when `None`): memory is one chunk plus the rows kept, not the file (`zall-pix-iron`
/// has 28 M rows). A row's pixel is its HEALPIX column (zpix, zall-pix), else the pixel
/// of TARGET_RA/TARGET_DEC (ztile); a table with neither keeps every row.
pub fn read_zcatalog_for_pixels(path: impl AsRef<Path>, pixels: Option<&BTreeSet<u64>>) -> Result<RedshiftTable> {
    read_zcatalog_in_chunks(path.as_ref(), pixels, ZCATALOG_CHUNK_ROWS)
}

/// [`read_zcatalog_for_pixels`] with `chunk_rows` rows read at a time (tests use small
/// chunks to cross chunk boundaries).
pub fn read_zcatalog_in_chunks(path: &Path, pixels: Option<&BTreeSet<u64>>, chunk_rows: u64) -> Result<RedshiftTable> {
    let chunk_rows = chunk_rows.max(1);
    let mut f = ard_fits::FitsFile::open(path)?;
    f.move_to("ZCATALOG")?;
    let total = f.table_rows()?;
    let mut extra = ExtraCompanion::open(path, total)?;
    let mut empty = f.read_table_rows(Some(&ZCATALOG_COLUMNS), 0..0)?;
    if let Some(e) = extra.as_mut() {
        empty = e.join(path, empty, 0..0)?;
    }
    let mut kept = Vec::new();
    let mut start = 0;
    while start < total {
        let end = (start + chunk_rows).min(total);
        let mut chunk = f.read_table_rows(Some(&ZCATALOG_COLUMNS), start..end)?;
        if let Some(e) = extra.as_mut() {
            chunk = e.join(path, chunk, start..end)?;
        }
        let chunk = match pixels {
            Some(set) => rows_in_pixels(path, chunk, set)?,
            None => chunk,
        };
        if chunk.num_rows() > 0 {
            kept.push(chunk);
        }
        start = end;
    }
    let table = arrow_select::concat::concat_batches(&empty.schema(), &kept).map_err(|source| DesiIoError::Arrow {
        path: path.into(),
        context: "joining the zcatalog's row chunks",
        source,
    })?;
    redshift_table(path, "ZCATALOG", table)
}

/// The rows of `chunk` whose pixel is in `pixels`.
fn rows_in_pixels(path: &Path, chunk: RecordBatch, pixels: &BTreeSet<u64>) -> Result<RecordBatch> {
    let keep: Vec<bool> = if let Some(hpx) = crate::columns::optional_i64(&chunk, "HEALPIX") {
        hpx.iter().map(|&p| p >= 0 && pixels.contains(&(p as u64))).collect()
    } else if let (Some(ra), Some(dec)) =
        (crate::columns::optional_f64(&chunk, "TARGET_RA"), crate::columns::optional_f64(&chunk, "TARGET_DEC"))
    {
        ra.iter()
            .zip(&dec)
            .map(|(&r, &d)| r.is_finite() && d.is_finite() && pixels.contains(&(crate::layout::nside64_pixel(r, d) as u64)))
            .collect()
    } else {
        return Ok(chunk);
    };
    arrow_select::filter::filter_record_batch(&chunk, &BooleanArray::from(keep)).map_err(|source| DesiIoError::Arrow {
        path: path.into(),
        context: "selecting the zcatalog rows of the pixels ingested",
        source,
    })
}

impl RedshiftTable {
    /// The rows for `targetids`, in that order. When the table has SURVEY and
    /// PROGRAM columns (a zcatalog), only rows of `survey`/`program` are used. When it
    /// has TILEID (a tile-based catalogue, where a TARGETID observed on several tiles has
    /// a row per tile), rows are matched on (TARGETID, TILEID) with `tileids`, the coadd's
    /// FIBERMAP TILEID.
    ///
    /// # Errors
    /// [`DesiIoError::MissingRedshift`] naming the first TARGETID with no row;
    /// [`DesiIoError::MissingColumn`] for a tile catalogue and a coadd without TILEID.
    pub fn aligned_to(&self, targetids: &[i64], tileids: Option<&[i64]>, survey: &str, program: &str, coadd: &Path) -> Result<RecordBatch> {
        let ids = column_i64(&self.table, "TARGETID", &self.path, &self.hdu)?;
        let surveys = optional_str(&self.table, "SURVEY");
        let programs = optional_str(&self.table, "PROGRAM");
        let tiles = crate::columns::optional_i64(&self.table, "TILEID");
        let coadd_tiles = match (&tiles, tileids) {
            (Some(_), Some(t)) => Some(t),
            (Some(_), None) => {
                return Err(DesiIoError::MissingColumn {
                    path: coadd.into(),
                    hdu: "FIBERMAP".into(),
                    column: "TILEID (to join a tile catalogue)".into(),
                })
            }
            (None, _) => None,
        };
        let mut index: HashMap<(i64, i64), u32> = HashMap::with_capacity(ids.len());
        for (row, &tid) in ids.iter().enumerate() {
            let same = |col: &Option<Vec<String>>, want: &str| col.as_ref().is_none_or(|v| v[row].eq_ignore_ascii_case(want));
            if same(&surveys, survey) && same(&programs, program) {
                let tile = tiles.as_ref().map_or(0, |t| t[row]);
                index.entry((tid, tile)).or_insert(row as u32);
            }
        }
        let mut take = Vec::with_capacity(targetids.len());
        for (k, &tid) in targetids.iter().enumerate() {
            let tile = coadd_tiles.map_or(0, |t| t[k]);
            match index.get(&(tid, tile)) {
                Some(&row) => take.push(row),
                None => {
                    return Err(DesiIoError::MissingRedshift {
                        path: self.path.clone(),
                        hdu: self.hdu.clone(),
                        targetid: tid,
                        coadd: coadd.into(),
                    })
                }
            }
        }
        let indices = UInt32Array::from(take);
        arrow_select::take::take_record_batch(&self.table, &indices).map_err(|source| DesiIoError::Arrow {
            path: self.path.clone(),
            context: "selecting redshift rows",
            source,
        })
    }
}
