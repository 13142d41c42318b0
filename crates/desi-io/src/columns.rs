//! Typed access to columns of tables read from FITS, whatever integer or float
//! width a production chose for them.

use std::path::Path;

use ard_core::columns::{nullable_f64, nullable_i64};
use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;

use crate::error::{DesiIoError, Result};

fn missing(path: &Path, hdu: &str, column: &str) -> DesiIoError {
    DesiIoError::MissingColumn { path: path.to_path_buf(), hdu: hdu.into(), column: column.into() }
}

/// Values of a scalar numeric column as f64 (`None` when absent or not numeric; a null
/// entry reads as NaN). The null-aware reader is `ard_core::columns::nullable_f64`.
pub fn optional_f64(batch: &RecordBatch, name: &str) -> Option<Vec<f64>> {
    Some(nullable_f64(batch, name)?.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

/// Values of a scalar integer column as i64 (`None` when absent or not integer; a null
/// entry reads as 0).
pub fn optional_i64(batch: &RecordBatch, name: &str) -> Option<Vec<i64>> {
    Some(nullable_i64(batch, name)?.into_iter().map(|v| v.unwrap_or(0)).collect())
}

/// Values of a string column (`None` when absent or not a string column).
pub fn optional_str(batch: &RecordBatch, name: &str) -> Option<Vec<String>> {
    let col = batch.column_by_name(name)?;
    match col.data_type() {
        DataType::Utf8 => {
            let a = col.as_string::<i32>();
            Some((0..a.len()).map(|i| a.value(i).to_string()).collect())
        }
        _ => None,
    }
}

/// A required integer column.
pub fn column_i64(batch: &RecordBatch, name: &str, path: &Path, hdu: &str) -> Result<Vec<i64>> {
    optional_i64(batch, name).ok_or_else(|| missing(path, hdu, name))
}

/// A required numeric column as f64.
pub fn column_f64(batch: &RecordBatch, name: &str, path: &Path, hdu: &str) -> Result<Vec<f64>> {
    optional_f64(batch, name).ok_or_else(|| missing(path, hdu, name))
}

/// A required string column.
pub fn column_str(batch: &RecordBatch, name: &str, path: &Path, hdu: &str) -> Result<Vec<String>> {
    optional_str(batch, name).ok_or_else(|| missing(path, hdu, name))
}
