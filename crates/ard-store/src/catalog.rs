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
    let columns = Columns::new(Path::new("(rows being written)"), batch);
    let get = |name: &str| -> Result<Vec<f64>, StoreError> { Ok(columns.f64(name)?.values().to_vec()) };
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
    let sorting = |e| StoreError::arrow("sorting rows by _healpix_29", e);
    let mut cols: Vec<ArrayRef> = vec![arrow_select::take::take(&Int64Array::from(h), &idx, None).map_err(sorting)?];
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if f.name() == HEALPIX29 {
            continue;
        }
        fields.push(f.clone());
        cols.push(arrow_select::take::take(c, &idx, None).map_err(sorting)?);
    }
    let schema = Arc::new(Schema::new_with_metadata(fields, batch.schema().metadata().clone()));
    RecordBatch::try_new(schema, cols).map_err(sorting)
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

/// Checked, typed access to the columns of a batch read from `path` (a leaf, a
/// sub-volume result): a missing column or one of another type is an error naming the
/// file, the column, and the expected and found types — never a panic, never a default.
#[derive(Debug, Clone, Copy)]
pub struct Columns<'a> {
    path: &'a Path,
    batch: &'a RecordBatch,
}

macro_rules! typed_column {
    ($(#[$doc:meta])* $name:ident, $array:ty, $label:literal) => {
        $(#[$doc])*
        pub fn $name(&self, column: &str) -> Result<&'a $array, StoreError> {
            let c = self.batch.column_by_name(column).ok_or_else(|| self.wrong(column, $label, None))?;
            c.as_any().downcast_ref::<$array>().ok_or_else(|| self.wrong(column, $label, Some(c.data_type().clone())))
        }
    };
}

impl<'a> Columns<'a> {
    /// The columns of `batch`, read from `path`.
    pub fn new(path: &'a Path, batch: &'a RecordBatch) -> Self {
        Columns { path, batch }
    }

    fn wrong(&self, column: &str, expected: &'static str, found: Option<DataType>) -> StoreError {
        StoreError::Column { path: self.path.to_path_buf(), column: column.to_string(), expected, found }
    }

    typed_column!(
        /// A Float64 column.
        f64, arrow_array::Float64Array, "Float64"
    );
    typed_column!(
        /// A Float32 column.
        f32, arrow_array::Float32Array, "Float32"
    );
    typed_column!(
        /// An Int64 column.
        i64, Int64Array, "Int64"
    );
    typed_column!(
        /// An Int8 column.
        i8, arrow_array::Int8Array, "Int8"
    );
    typed_column!(
        /// A Boolean column.
        bool, arrow_array::BooleanArray, "Boolean"
    );
    typed_column!(
        /// A Utf8 column.
        str, arrow_array::StringArray, "Utf8"
    );
}

/// Writes `batch` to `path` (the caller renames it into place).
pub fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<(), StoreError> {
    write_parquet_with_key_values(path, batch, &[])
}

/// [`write_parquet`] with file-level key-value metadata (a catalogue leaf names its
/// pixel version there; Arrow schema metadata would have to agree across leaves).
pub fn write_parquet_with_key_values(path: &Path, batch: &RecordBatch, kv: &[(String, String)]) -> Result<(), StoreError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    }
    let file = File::create(path).map_err(|e| StoreError::io(path, e))?;
    let props = if kv.is_empty() {
        writer_properties()
    } else {
        let entries = kv.iter().map(|(k, v)| parquet::file::metadata::KeyValue::new(k.clone(), v.clone())).collect();
        writer_properties().into_builder().set_key_value_metadata(Some(entries)).build()
    };
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(|e| StoreError::parquet(path, e))?;
    w.write(batch).map_err(|e| StoreError::parquet(path, e))?;
    w.close().map_err(|e| StoreError::parquet(path, e))?;
    if let Ok(f) = File::open(path) {
        f.sync_all().map_err(|e| StoreError::io(path, e))?;
    }
    Ok(())
}

/// The file-level key-value metadata of a Parquet file that desi-ard wrote (the
/// entries starting `desi_ard.`; Arrow's own schema entry is left out).
pub fn read_key_values(path: &Path) -> Result<Vec<(String, String)>, StoreError> {
    let file = File::open(path).map_err(|e| StoreError::io(path, e))?;
    let meta = parquet::file::metadata::ParquetMetaDataReader::new().parse_and_finish(&file).map_err(|e| StoreError::parquet(path, e))?;
    Ok(meta
        .file_metadata()
        .key_value_metadata()
        .map(|kv| {
            kv.iter().filter(|e| e.key.starts_with("desi_ard.")).map(|e| (e.key.clone(), e.value.clone().unwrap_or_default())).collect()
        })
        .unwrap_or_default())
}

/// Writes a Parquet file holding only `schema` (HATS `_common_metadata`).
pub fn write_schema_only(path: &Path, schema: SchemaRef) -> Result<(), StoreError> {
    let file = File::create(path).map_err(|e| StoreError::io(path, e))?;
    let w = ArrowWriter::try_new(file, schema, Some(writer_properties())).map_err(|e| StoreError::parquet(path, e))?;
    w.close().map_err(|e| StoreError::parquet(path, e))?;
    Ok(())
}

/// The Arrow schema of a Parquet file (a leaf, or a HATS `_common_metadata`).
pub fn read_schema(path: &Path) -> Result<SchemaRef, StoreError> {
    let file = File::open(path).map_err(|e| StoreError::io(path, e))?;
    let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| StoreError::parquet(path, e))?;
    Ok(b.schema().clone())
}

/// Reads a whole Parquet file into one batch.
pub fn read_parquet(path: &Path) -> Result<RecordBatch, StoreError> {
    let file = File::open(path).map_err(|e| StoreError::io(path, e))?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| StoreError::parquet(path, e))?;
    let schema = builder.schema().clone();
    let reader = builder.build().map_err(|e| StoreError::parquet(path, e))?;
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().map_err(|e| StoreError::arrow(path.display().to_string(), e))?;
    arrow_select::concat::concat_batches(&schema, &batches).map_err(|e| StoreError::arrow(path.display().to_string(), e))
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
        let batch = batch.map_err(|e| StoreError::arrow(path.display().to_string(), e))?;
        let b = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(name, batch.column(0).data_type().clone(), true)])),
            vec![batch.column(0).clone()],
        )
        .map_err(|e| StoreError::arrow(path.display().to_string(), e))?;
        out.extend_from_slice(Columns::new(path, &b).i64(name)?.values());
    }
    Ok(Some(out))
}
