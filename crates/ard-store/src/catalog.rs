//! Catalogue leaves: one Parquet file per nside-64 pixel, rows sorted by
//! `_healpix_29` (the order-29 nested index of TARGET_RA/DEC, HATS's spatial key),
//! zstd-compressed, with column-chunk statistics for predicate pushdown.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::StoreError;

/// Name of the spatial-index column.
pub const HEALPIX29: &str = "_healpix_29";

/// Order-29 nested HEALPix index of (RA, Dec) in degrees.
///
/// ```
/// let h = ard_store::catalog::healpix29(149.465404248889, 1.7936467486355945);
/// assert_eq!(h >> 46, 27247); // 2·(29 − 6) bits below the nside-64 pixel
/// ```
pub fn healpix29(ra_deg: f64, dec_deg: f64) -> i64 {
    cdshealpix::nested::hash(29, ra_deg.to_radians(), dec_deg.to_radians()) as i64
}

/// Writer properties of every ARD Parquet file: zstd(3), chunk statistics, a fixed
/// `created_by` so that re-runs give the same bytes.
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_max_row_group_row_count(Some(128 * 1024))
        .set_created_by(format!("desi-ard {}", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Prepends `_healpix_29` (computed from the `ra`/`dec` columns) and sorts rows by it,
/// then by the remaining `tie_break` columns (Int64 or Utf8).
pub fn with_healpix29_sorted(batch: &RecordBatch, ra: &str, dec: &str, tie_break: &[&str]) -> Result<RecordBatch, StoreError> {
    let get = |name: &str| -> Result<Vec<f64>, StoreError> {
        let col = batch.column_by_name(name).ok_or_else(|| StoreError::Schema(format!("no column {name}")))?;
        col.as_any()
            .downcast_ref::<arrow_array::Float64Array>()
            .map(|a| a.values().to_vec())
            .ok_or_else(|| StoreError::Schema(format!("column {name} is {}, expected Float64", col.data_type())))
    };
    let (ras, decs) = (get(ra)?, get(dec)?);
    let h: Vec<i64> = ras.iter().zip(&decs).map(|(&r, &d)| healpix29(r, d)).collect();
    let mut order: Vec<u32> = (0..h.len() as u32).collect();
    let keys: Vec<Option<&ArrayRef>> = tie_break.iter().map(|n| batch.column_by_name(n)).collect();
    order.sort_by(|&a, &b| {
        let mut o = h[a as usize].cmp(&h[b as usize]);
        for k in keys.iter().flatten() {
            if o != std::cmp::Ordering::Equal {
                break;
            }
            o = compare(k, a as usize, b as usize);
        }
        o
    });
    let idx = UInt32Array::from(order);
    let mut fields: Vec<Arc<Field>> = vec![Arc::new(Field::new(HEALPIX29, DataType::Int64, false).with_metadata(
        [("description".to_string(), "order-29 NESTED HEALPix index of (target_ra, target_dec): the HATS spatial key".to_string())].into(),
    ))];
    let mut cols: Vec<ArrayRef> = vec![arrow_select::take::take(&Int64Array::from(h), &idx, None).map_err(StoreError::arrow)?];
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if f.name() == HEALPIX29 {
            continue;
        }
        fields.push(f.clone());
        cols.push(arrow_select::take::take(c, &idx, None).map_err(StoreError::arrow)?);
    }
    let schema = Arc::new(Schema::new_with_metadata(fields, batch.schema().metadata().clone()));
    RecordBatch::try_new(schema, cols).map_err(StoreError::arrow)
}

fn compare(a: &ArrayRef, i: usize, j: usize) -> std::cmp::Ordering {
    if let Some(x) = a.as_any().downcast_ref::<Int64Array>() {
        return x.value(i).cmp(&x.value(j));
    }
    if let Some(x) = a.as_any().downcast_ref::<arrow_array::StringArray>() {
        return x.value(i).cmp(x.value(j));
    }
    std::cmp::Ordering::Equal
}

/// Writes `batch` to `path` (the caller renames it into place).
pub fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<(), StoreError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    }
    let file = File::create(path).map_err(|e| StoreError::io(path, e))?;
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(writer_properties())).map_err(|e| StoreError::parquet(path, e))?;
    w.write(batch).map_err(|e| StoreError::parquet(path, e))?;
    w.close().map_err(|e| StoreError::parquet(path, e))?;
    Ok(())
}

/// Writes a Parquet file holding only `schema` (HATS `_common_metadata`).
pub fn write_schema_only(path: &Path, schema: SchemaRef) -> Result<(), StoreError> {
    let file = File::create(path).map_err(|e| StoreError::io(path, e))?;
    let w = ArrowWriter::try_new(file, schema, Some(writer_properties())).map_err(|e| StoreError::parquet(path, e))?;
    w.close().map_err(|e| StoreError::parquet(path, e))?;
    Ok(())
}

/// Reads a whole Parquet file into one batch.
pub fn read_parquet(path: &Path) -> Result<RecordBatch, StoreError> {
    let file = File::open(path).map_err(|e| StoreError::io(path, e))?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| StoreError::parquet(path, e))?;
    let schema = builder.schema().clone();
    let reader = builder.build().map_err(|e| StoreError::parquet(path, e))?;
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().map_err(StoreError::arrow)?;
    arrow_select::concat::concat_batches(&schema, &batches).map_err(StoreError::arrow)
}

/// Reads one Int64 column of a Parquet file (only that column's pages are decoded);
/// `None` when the file has no such column.
pub fn read_i64_column(path: &Path, name: &str) -> Result<Option<Vec<i64>>, StoreError> {
    let file = File::open(path).map_err(|e| StoreError::io(path, e))?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| StoreError::parquet(path, e))?;
    let descr = builder.metadata().file_metadata().schema_descr_ptr();
    let Some(idx) = descr.columns().iter().position(|c| c.name() == name) else { return Ok(None) };
    let mask = parquet::arrow::ProjectionMask::leaves(&descr, [idx]);
    let reader = builder.with_projection(mask).build().map_err(|e| StoreError::parquet(path, e))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(StoreError::arrow)?;
        match batch.column(0).as_any().downcast_ref::<Int64Array>() {
            Some(a) => out.extend_from_slice(a.values()),
            None => return Err(StoreError::Schema(format!("{}: column {name} is not Int64", path.display()))),
        }
    }
    Ok(Some(out))
}
