//! Query results as an aligned table, CSV, JSON, Parquet or a FITS binary table.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};

use crate::QueryError;

/// Output formats of `desi-ard sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned text table.
    Table,
    /// Comma-separated values with a header.
    Csv,
    /// A JSON array of objects.
    Json,
    /// Parquet (zstd).
    Parquet,
    /// FITS binary table (HDU `RESULT`); nulls become NaN (floats) or 0 (integers).
    Fits,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "table" => Format::Table,
            "csv" => Format::Csv,
            "json" => Format::Json,
            "parquet" => Format::Parquet,
            "fits" => Format::Fits,
            _ => return Err(format!("unknown format {s:?}: use table, csv, json, parquet or fits")),
        })
    }
}

fn concat(batches: &[RecordBatch]) -> Result<Option<RecordBatch>, QueryError> {
    let Some(first) = batches.first() else { return Ok(None) };
    arrow_select_concat(&first.schema(), batches).map(Some)
}

fn arrow_select_concat(schema: &Arc<Schema>, batches: &[RecordBatch]) -> Result<RecordBatch, QueryError> {
    let cols = (0..schema.fields().len())
        .map(|i| {
            let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(i).as_ref()).collect();
            datafusion::arrow::compute::concat(&parts)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| QueryError::arrow("joining the result batches", e))?;
    RecordBatch::try_new(schema.clone(), cols).map_err(|e| QueryError::arrow("joining the result batches", e))
}

/// The rows as an aligned text table.
pub fn to_table(batches: &[RecordBatch]) -> Result<String, QueryError> {
    arrow_cast::pretty::pretty_format_batches(batches).map(|t| t.to_string()).map_err(|e| QueryError::arrow("formatting the table", e))
}

/// Writes the rows in `format` to `out` (a file) or returns them as text (for
/// table/CSV/JSON to standard output).
pub fn write(batches: &[RecordBatch], format: Format, out: Option<&Path>) -> Result<Option<String>, QueryError> {
    match format {
        Format::Table => {
            let t = to_table(batches)?;
            match out {
                Some(p) => std::fs::write(p, t).map_err(|e| QueryError::write(p, e)).map(|_| None),
                None => Ok(Some(t)),
            }
        }
        Format::Csv => {
            let mut buf = Vec::new();
            {
                let mut w = arrow_csv::WriterBuilder::new().with_header(true).build(&mut buf);
                for b in batches {
                    w.write(b).map_err(|e| QueryError::arrow("writing CSV", e))?;
                }
            }
            text_or_file(buf, out)
        }
        Format::Json => {
            let mut buf = Vec::new();
            {
                let mut w = arrow_json::ArrayWriter::new(&mut buf);
                for b in batches {
                    w.write(b).map_err(|e| QueryError::arrow("writing JSON", e))?;
                }
                w.finish().map_err(|e| QueryError::arrow("writing JSON", e))?;
            }
            if batches.iter().all(|b| b.num_rows() == 0) {
                buf = b"[]".to_vec();
            }
            text_or_file(buf, out)
        }
        Format::Parquet => {
            let p = out.ok_or(QueryError::NeedsOutput { format: "parquet" })?;
            let Some(all) = concat(batches)? else { return Err(QueryError::NoSchema) };
            ard_store::catalog::write_parquet(p, &all)?;
            Ok(None)
        }
        Format::Fits => {
            let p = out.ok_or(QueryError::NeedsOutput { format: "fits" })?;
            let Some(all) = concat(batches)? else { return Err(QueryError::NoSchema) };
            let all = fits_compatible(&all)?;
            let fits = |e: ard_fits::FitsError| QueryError::write(p, e);
            let mut f = ard_fits::FitsFile::create(p).map_err(fits)?;
            f.write_primary(&[ard_fits::Key::str("ORIGIN", "desi-ard sql", "")]).map_err(fits)?;
            f.write_table("RESULT", &all, &[]).map_err(fits)?;
            f.close().map_err(fits)?;
            Ok(None)
        }
    }
}

fn text_or_file(buf: Vec<u8>, out: Option<&Path>) -> Result<Option<String>, QueryError> {
    match out {
        Some(p) => std::fs::write(p, buf).map_err(|e| QueryError::write(p, e)).map(|_| None),
        None => Ok(Some(String::from_utf8_lossy(&buf).into_owned())),
    }
}

/// FITS has no nulls and a fixed type set: floats' nulls become NaN, other types are
/// cast to the nearest FITS type (strings, dates as text).
fn fits_compatible(b: &RecordBatch) -> Result<RecordBatch, QueryError> {
    let mut fields = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    for (f, c) in b.schema().fields().iter().zip(b.columns()) {
        let target = match f.data_type() {
            DataType::Float16 | DataType::Float32 => DataType::Float32,
            DataType::Float64 | DataType::Decimal128(_, _) => DataType::Float64,
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Boolean => f.data_type().clone(),
            DataType::FixedSizeList(_, _) => f.data_type().clone(),
            _ => DataType::Utf8,
        };
        let cast = arrow_cast::cast(c, &target).map_err(|e| QueryError::arrow(format!("casting column {} for FITS", f.name()), e))?;
        let filled: ArrayRef = match target {
            DataType::Float32 => Arc::new(datafusion::arrow::array::Float32Array::from_iter_values(
                cast.as_any()
                    .downcast_ref::<datafusion::arrow::array::Float32Array>()
                    .map(|a| (0..a.len()).map(|i| if a.is_null(i) { f32::NAN } else { a.value(i) }).collect::<Vec<_>>())
                    .unwrap_or_default(),
            )),
            DataType::Float64 => Arc::new(datafusion::arrow::array::Float64Array::from_iter_values(
                cast.as_any()
                    .downcast_ref::<datafusion::arrow::array::Float64Array>()
                    .map(|a| (0..a.len()).map(|i| if a.is_null(i) { f64::NAN } else { a.value(i) }).collect::<Vec<_>>())
                    .unwrap_or_default(),
            )),
            _ => cast,
        };
        fields.push(Field::new(f.name(), filled.data_type().clone(), true).with_metadata(f.metadata().clone()));
        cols.push(filled);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(|e| QueryError::arrow("the FITS table", e))
}
