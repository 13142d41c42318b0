//! Typed, null-aware reads of the scalar columns stages need from the FIBERMAP and
//! redshift tables (`Z`, `ZWARN`, `SPECTYPE`, fluxes), whatever integer or float width
//! a production chose. `None` for the whole column when it is absent or of another
//! kind; `None` for a row when that row is null.

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;

/// A numeric column as f64 per row.
pub fn nullable_f64(batch: &RecordBatch, name: &str) -> Option<Vec<Option<f64>>> {
    let col = batch.column_by_name(name)?;
    macro_rules! conv {
        ($t:ty) => {{
            let a = col.as_primitive::<$t>();
            (0..a.len()).map(|i| (!a.is_null(i)).then(|| a.value(i) as f64)).collect()
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

/// An integer (or boolean) column as i64 per row.
pub fn nullable_i64(batch: &RecordBatch, name: &str) -> Option<Vec<Option<i64>>> {
    let col = batch.column_by_name(name)?;
    macro_rules! conv {
        ($t:ty) => {{
            let a = col.as_primitive::<$t>();
            (0..a.len()).map(|i| (!a.is_null(i)).then(|| a.value(i) as i64)).collect()
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
            (0..a.len()).map(|i| (!a.is_null(i)).then(|| i64::from(a.value(i)))).collect()
        }
        _ => return None,
    })
}

/// A string column per row.
pub fn nullable_str(batch: &RecordBatch, name: &str) -> Option<Vec<Option<String>>> {
    let col = batch.column_by_name(name)?;
    match col.data_type() {
        DataType::Utf8 => {
            let a = col.as_string::<i32>();
            Some((0..a.len()).map(|i| (!a.is_null(i)).then(|| a.value(i).to_string())).collect())
        }
        DataType::LargeUtf8 => {
            let a = col.as_string::<i64>();
            Some((0..a.len()).map(|i| (!a.is_null(i)).then(|| a.value(i).to_string())).collect())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn widths_and_nulls() {
        let b = RecordBatch::try_from_iter(vec![
            ("Z", Arc::new(arrow_array::Float32Array::from(vec![Some(0.5), None])) as _),
            ("ZWARN", Arc::new(arrow_array::Int16Array::from(vec![Some(4), Some(0)])) as _),
            ("SPECTYPE", Arc::new(arrow_array::StringArray::from(vec![Some("GALAXY"), None])) as _),
        ])
        .unwrap();
        assert_eq!(nullable_f64(&b, "Z"), Some(vec![Some(0.5), None]));
        assert_eq!(nullable_i64(&b, "ZWARN"), Some(vec![Some(4), Some(0)]));
        assert_eq!(nullable_str(&b, "SPECTYPE"), Some(vec![Some("GALAXY".into()), None]));
        assert_eq!(nullable_f64(&b, "SPECTYPE"), None);
        assert_eq!(nullable_f64(&b, "NOPE"), None);
    }
}
