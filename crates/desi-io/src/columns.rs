//! Typed access to columns of tables read from FITS, whatever integer or float
//! width a production chose for them.

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;

use crate::error::{DesiIoError, Result};

fn missing(path: &Path, hdu: &str, column: &str) -> DesiIoError {
    DesiIoError::MissingColumn { path: path.to_path_buf(), hdu: hdu.into(), column: column.into() }
}

/// Values of a scalar numeric column as f64 (`None` when absent or not numeric).
pub fn optional_f64(batch: &RecordBatch, name: &str) -> Option<Vec<f64>> {
    let col = batch.column_by_name(name)?;
    let n = col.len();
    macro_rules! conv {
        ($t:ty) => {{
            let a = col.as_primitive::<$t>();
            (0..n).map(|i| a.value(i) as f64).collect()
        }};
    }
    Some(match col.data_type() {
        DataType::Float64 => conv!(Float64Type),
        DataType::Float32 => conv!(Float32Type),
        DataType::Int64 => conv!(Int64Type),
        DataType::Int32 => conv!(Int32Type),
        DataType::Int16 => conv!(Int16Type),
        DataType::Int8 => conv!(Int8Type),
        DataType::UInt64 => conv!(UInt64Type),
        DataType::UInt32 => conv!(UInt32Type),
        DataType::UInt16 => conv!(UInt16Type),
        DataType::UInt8 => conv!(UInt8Type),
        _ => return None,
    })
}

/// Values of a scalar integer column as i64 (`None` when absent or not integer).
pub fn optional_i64(batch: &RecordBatch, name: &str) -> Option<Vec<i64>> {
    let col = batch.column_by_name(name)?;
    let n = col.len();
    macro_rules! conv {
        ($t:ty) => {{
            let a = col.as_primitive::<$t>();
            (0..n).map(|i| a.value(i) as i64).collect()
        }};
    }
    Some(match col.data_type() {
        DataType::Int64 => conv!(Int64Type),
        DataType::Int32 => conv!(Int32Type),
        DataType::Int16 => conv!(Int16Type),
        DataType::Int8 => conv!(Int8Type),
        DataType::UInt64 => conv!(UInt64Type),
        DataType::UInt32 => conv!(UInt32Type),
        DataType::UInt16 => conv!(UInt16Type),
        DataType::UInt8 => conv!(UInt8Type),
        DataType::Boolean => {
            let a = col.as_boolean();
            (0..n).map(|i| i64::from(a.value(i))).collect()
        }
        _ => return None,
    })
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
