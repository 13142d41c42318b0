//! Redshift tables: redrock `REDSHIFTS` (per coadd) and DESI's zcatalogs, HDU `ZCATALOG`:
//! `zpix-<survey>-<program>.fits` (one row per TARGETID per survey/program),
//! `zall-pix-<specprod>.fits` (every survey and program in one file, told apart by its
//! SURVEY and PROGRAM columns) and the tile-based `ztile-*` (one row per TARGETID per tile:
//! joined on (TARGETID, TILEID), never TARGETID alone). Columns come from the header; only
//! TARGETID, Z, ZERR, ZWARN, SPECTYPE are required. zcatalog v2 names its redrock columns
//! `Z_BEST`, `ZWARN_BEST`, `SPECTYPE_BEST`, ...: they are read under the v1 names.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use arrow_array::{RecordBatch, UInt32Array};

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

const REQUIRED: [&str; 5] = ["TARGETID", "Z", "ZERR", "ZWARN", "SPECTYPE"];

fn read_hdu(path: &Path, hdu: &str) -> Result<RedshiftTable> {
    let mut f = ard_fits::FitsFile::open(path)?;
    f.move_to(hdu)?;
    let table = f.read_table()?;
    let z_column = if table.column_by_name("Z").is_none() && table.column_by_name("Z_BEST").is_some() { "Z_BEST" } else { "Z" };
    let table = with_v1_names(table);
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

/// Reads the `ZCATALOG` HDU of a DR1 zcatalog file.
pub fn read_zcatalog(path: impl AsRef<Path>) -> Result<RedshiftTable> {
    read_hdu(path.as_ref(), "ZCATALOG")
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
        arrow_select::take::take_record_batch(&self.table, &indices)
            .map_err(|e| DesiIoError::Metadata { path: self.path.clone(), message: format!("selecting redshift rows: {e}") })
    }
}
