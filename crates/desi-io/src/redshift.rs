//! Redshift tables: redrock `REDSHIFTS` (per coadd) and DR1 zcatalogs
//! (`zpix-<survey>-<program>.fits`, HDU `ZCATALOG`, one row per TARGETID per
//! survey/program with `ZCAT_PRIMARY`). Columns come from the header; only TARGETID,
//! Z, ZERR, ZWARN, SPECTYPE are required.

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
    /// The rows.
    pub table: RecordBatch,
}

const REQUIRED: [&str; 5] = ["TARGETID", "Z", "ZERR", "ZWARN", "SPECTYPE"];

fn read_hdu(path: &Path, hdu: &str) -> Result<RedshiftTable> {
    let mut f = ard_fits::FitsFile::open(path)?;
    f.move_to(hdu)?;
    let table = f.read_table()?;
    for c in REQUIRED {
        if table.column_by_name(c).is_none() {
            return Err(DesiIoError::MissingColumn { path: path.into(), hdu: hdu.into(), column: c.into() });
        }
    }
    Ok(RedshiftTable { path: path.into(), hdu: hdu.into(), table })
}

/// Reads the `REDSHIFTS` HDU of a redrock file.
pub fn read_redrock(path: impl AsRef<Path>) -> Result<RedshiftTable> {
    read_hdu(path.as_ref(), "REDSHIFTS")
}

/// Reads the `ZCATALOG` HDU of a DR1 zcatalog file.
pub fn read_zcatalog(path: impl AsRef<Path>) -> Result<RedshiftTable> {
    read_hdu(path.as_ref(), "ZCATALOG")
}

impl RedshiftTable {
    /// The rows for `targetids`, in that order. When the table has SURVEY and
    /// PROGRAM columns (a zcatalog), only rows of `survey`/`program` are used.
    ///
    /// # Errors
    /// [`DesiIoError::MissingRedshift`] naming the first TARGETID with no row.
    pub fn aligned_to(&self, targetids: &[i64], survey: &str, program: &str, coadd: &Path) -> Result<RecordBatch> {
        let ids = column_i64(&self.table, "TARGETID", &self.path, &self.hdu)?;
        let surveys = optional_str(&self.table, "SURVEY");
        let programs = optional_str(&self.table, "PROGRAM");
        let mut index: HashMap<i64, u32> = HashMap::with_capacity(ids.len());
        for (row, &tid) in ids.iter().enumerate() {
            let same = |col: &Option<Vec<String>>, want: &str| col.as_ref().is_none_or(|v| v[row].eq_ignore_ascii_case(want));
            if same(&surveys, survey) && same(&programs, program) {
                index.entry(tid).or_insert(row as u32);
            }
        }
        let mut take = Vec::with_capacity(targetids.len());
        for &tid in targetids {
            match index.get(&tid) {
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
