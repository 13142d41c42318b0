//! Binary tables <-> Arrow record batches.
//!
//! The schema is taken from the header: each column's equivalent type (TFORM with
//! TSCAL/TZERO applied, so `K` with TZERO=2^63 is `UInt64`), its repeat count
//! (repeat > 1 becomes `FixedSizeList`), and TUNIT, kept as the field metadata `unit`.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_void};
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, BooleanArray, FixedSizeListArray, PrimitiveArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use fitsio_sys as sys;

use crate::*;

struct ColumnInfo {
    name: String,
    unit: String,
    typecode: c_int,
    repeat: i64,
    width: i64,
}

fn column_info(f: &mut FitsFile, colnum: c_int) -> Result<ColumnInfo> {
    let mut status = 0;
    let mut ttype = [0 as c_char; 84];
    let mut tunit = [0 as c_char; 84];
    let mut dtype = [0 as c_char; 84];
    let mut tdisp = [0 as c_char; 84];
    let (mut repeat, mut tscal, mut tzero, mut tnull) = (0i64, 0f64, 0f64, 0i64);
    // SAFETY: `f.raw()` is the open handle of `f` (non-null while the FitsFile lives); every text buffer has the 84 bytes cfitsio writes at most (FLEN_VALUE + 1); the others are locals.
    unsafe {
        sys::ffgbclll(
            f.raw(),
            colnum,
            ttype.as_mut_ptr(),
            tunit.as_mut_ptr(),
            dtype.as_mut_ptr(),
            &mut repeat,
            &mut tscal,
            &mut tzero,
            &mut tnull,
            tdisp.as_mut_ptr(),
            &mut status,
        )
    };
    f.check(&format!("reading the definition of column {colnum}"), status)?;
    let (mut typecode, mut rep, mut width) = (0, 0i64, 0i64);
    // SAFETY: `f.raw()` is the open handle of `f` (non-null while the FitsFile lives); the out-pointers are to locals.
    unsafe { sys::ffeqtyll(f.raw(), colnum, &mut typecode, &mut rep, &mut width, &mut status) };
    f.check(&format!("reading the type of column {colnum}"), status)?;
    // SAFETY: cfitsio NUL-terminated each header text it wrote into these zeroed 84-byte buffers.
    let text = |a: &[c_char]| unsafe { CStr::from_ptr(a.as_ptr()) }.to_string_lossy().trim().to_string();
    Ok(ColumnInfo { name: text(&ttype), unit: text(&tunit), typecode, repeat: rep, width })
}

/// Reads the `data.len()` elements of column `colnum` from row `firstrow` (1-based) on,
/// as cfitsio type `datatype`; with
/// `nulls` (of the same length), cfitsio's per-element null flags (TNULLn) go there.
/// Returns whether any element was null.
///
/// # Safety
/// `E` must be the Rust type of the elements cfitsio writes for `datatype`.
unsafe fn read_elements<E>(
    f: &mut FitsFile,
    colnum: c_int,
    firstrow: i64,
    datatype: c_int,
    data: &mut [E],
    nulls: Option<&mut [c_char]>,
    name: &str,
) -> Result<bool> {
    let (mut status, mut anynul) = (0, 0);
    if data.is_empty() {
        return Ok(false);
    }
    let n = data.len() as i64;
    let out = data.as_mut_ptr() as *mut c_void;
    match nulls {
        Some(flags) => {
            if flags.len() != data.len() {
                return Err(f.invalid(format!("reading column {name}: {} null flags for {} elements", flags.len(), data.len())));
            }
            // SAFETY: `f.raw()` is the open handle of `f`; `out` holds `n` elements of the type `datatype` names (the caller's promise) and `flags` holds `n` flags.
            unsafe { sys::ffgcf(f.raw(), datatype, colnum, firstrow, 1, n, out, flags.as_mut_ptr(), &mut anynul, &mut status) };
        }
        None => {
            // SAFETY: as above, without the flags (a null pointer asks cfitsio for no substitution).
            unsafe { sys::ffgcv(f.raw(), datatype, colnum, firstrow, 1, n, std::ptr::null_mut(), out, &mut anynul, &mut status) };
        }
    }
    f.check(&format!("reading column {name}"), status)?;
    Ok(anynul != 0)
}

/// Reads a numeric column. Integer columns are read with cfitsio's null flags, so that
/// entries equal to the column's TNULLn (FITS 4.0 §7.3.2; iron's redrock files use
/// TNULL = 999999) become Arrow nulls; floating-point columns keep NaN as NaN.
fn read_numeric<T: ArrowPrimitiveType>(
    f: &mut FitsFile,
    colnum: c_int,
    datatype: c_int,
    (firstrow, nrows): (i64, i64),
    repeat: i64,
    name: &str,
) -> Result<PrimitiveArray<T>>
where
    T::Native: Default,
{
    let n = (nrows * repeat) as usize;
    let mut data = vec![T::Native::default(); n];
    let integer = !matches!(datatype, TFLOAT | TDOUBLE);
    let mut nulls = vec![0 as c_char; if integer { n } else { 0 }];
    // SAFETY: the callers pair each datatype code with the Arrow type of its elements (read_table's match).
    let any_null = unsafe { read_elements(f, colnum, firstrow, datatype, &mut data, integer.then_some(nulls.as_mut_slice()), name) }?;
    if any_null && integer {
        let valid = arrow_buffer::NullBuffer::from(nulls.iter().map(|&c| c == 0).collect::<Vec<bool>>());
        return Ok(PrimitiveArray::<T>::new(data.into(), Some(valid)));
    }
    Ok(PrimitiveArray::<T>::from_iter_values(data))
}

fn read_strings(f: &mut FitsFile, colnum: c_int, (firstrow, nrows): (i64, i64), info: &ColumnInfo) -> Result<ArrayRef> {
    let width = info.width.max(1) as usize;
    let per_row = (info.repeat as usize / width).max(1);
    let total = nrows as usize * per_row;
    let mut storage = vec![0 as c_char; total * (width + 1)];
    // SAFETY: `i < total`, so the offset `i × (width + 1)` is inside `storage`, which has `total × (width + 1)` bytes.
    let mut ptrs: Vec<*mut c_char> = (0..total).map(|i| unsafe { storage.as_mut_ptr().add(i * (width + 1)) }).collect();
    if total > 0 {
        let mut status = 0;
        let mut anynul = 0;
        let mut nulstr = [0 as c_char; 2];
        // SAFETY: `f.raw()` is the open handle of `f` (non-null while the FitsFile lives); `ptrs` holds `total` pointers, each to `width + 1` bytes of `storage` (a string and its NUL).
        unsafe {
            sys::ffgcvs(f.raw(), colnum, firstrow, 1, total as i64, nulstr.as_mut_ptr(), ptrs.as_mut_ptr(), &mut anynul, &mut status)
        };
        f.check(&format!("reading column {}", info.name), status)?;
    }
    let mut b = StringBuilder::with_capacity(total, total * width);
    for p in &ptrs {
        // SAFETY: each pointer is to a zero-initialised `width + 1` slice of `storage` that cfitsio filled with at most `width` characters, so it is NUL-terminated.
        let s = unsafe { CStr::from_ptr(*p) }.to_string_lossy();
        b.append_value(s.trim_end_matches([' ', '\0']));
    }
    let arr: ArrayRef = Arc::new(b.finish());
    if per_row == 1 {
        Ok(arr)
    } else {
        let field = Arc::new(Field::new("item", DataType::Utf8, true));
        Ok(Arc::new(FixedSizeListArray::new(field, per_row as i32, arr, None)))
    }
}

fn read_logical(f: &mut FitsFile, colnum: c_int, (firstrow, nrows): (i64, i64), repeat: i64, name: &str) -> Result<ArrayRef> {
    let mut data = vec![0 as c_char; (nrows * repeat) as usize];
    // SAFETY: cfitsio writes TLOGICAL elements as C chars.
    unsafe { read_elements(f, colnum, firstrow, TLOGICAL, &mut data, None, name) }?;
    Ok(Arc::new(BooleanArray::from(data.iter().map(|&c| c != 0).collect::<Vec<_>>())))
}

/// Rows and columns of the current HDU, which must be a binary table.
pub(crate) fn table_shape(f: &mut FitsFile) -> Result<(c_int, i64)> {
    match f.hdu_kind()? {
        HduKind::BinaryTable => {}
        other => {
            return Err(FitsError::WrongHduType {
                path: f.path().to_path_buf(),
                hdu: f.current_hdu().unwrap_or_default().to_string(),
                expected: "a binary table",
                found: format!("{other:?}"),
            })
        }
    }
    let mut status = 0;
    let mut ncols = 0;
    let mut nrows = 0i64;
    // SAFETY: `f.raw()` is the open handle of `f` (non-null while the FitsFile lives); the out-pointers are to locals.
    unsafe { sys::ffgncl(f.raw(), &mut ncols, &mut status) };
    // SAFETY: `f.raw()` is the open handle of `f` (non-null while the FitsFile lives); the out-pointers are to locals.
    unsafe { sys::ffgnrwll(f.raw(), &mut nrows, &mut status) };
    f.check("reading the table size", status)?;
    Ok((ncols, nrows))
}

pub(crate) fn read_table(f: &mut FitsFile) -> Result<RecordBatch> {
    let (_, nrows) = table_shape(f)?;
    read_table_rows(f, None, 0..nrows as u64)
}

/// The names of the current table's columns, in file order.
pub(crate) fn column_names(f: &mut FitsFile) -> Result<Vec<String>> {
    let (ncols, _) = table_shape(f)?;
    (1..=ncols).map(|c| column_info(f, c).map(|i| i.name)).collect()
}

/// The FITS types this reader maps (see the crate docs).
const READ_TYPES: [c_int; 14] =
    [TSTRING, TLOGICAL, TBYTE, TSBYTE, TSHORT, TUSHORT, TINT, TLONG, TUINT, TULONG, TLONGLONG, TULONGLONG, TFLOAT, TDOUBLE];

/// The rows cfitsio's I/O buffers hold at once (`ffgrsz`). Reading every column of such a
/// group before the next reads each block of a row-major table once, not once per column.
fn rows_per_group(f: &mut FitsFile) -> Result<i64> {
    // i64: the C long of the 64-bit targets cfitsio is built for here.
    let (mut n, mut status): (i64, c_int) = (0, 0);
    // SAFETY: `f.raw()` is the open handle of `f` (non-null while the FitsFile lives); the out-pointers are to locals.
    unsafe { sys::ffgrsz(f.raw(), &mut n, &mut status) };
    f.check("reading the optimal number of rows", status)?;
    Ok(n.max(1))
}

/// One column's elements for rows `span` (1-based first row, count), before a repeat count
/// makes them a FixedSizeList.
fn read_base(f: &mut FitsFile, colnum: c_int, info: &ColumnInfo, span: (i64, i64)) -> Result<ArrayRef> {
    let (r, name) = (info.repeat, info.name.as_str());
    Ok(match info.typecode {
        TSTRING => read_strings(f, colnum, span, info)?,
        TLOGICAL => read_logical(f, colnum, span, r, name)?,
        TBYTE => Arc::new(read_numeric::<UInt8Type>(f, colnum, TBYTE, span, r, name)?),
        TSBYTE => Arc::new(read_numeric::<Int8Type>(f, colnum, TSBYTE, span, r, name)?),
        TSHORT => Arc::new(read_numeric::<Int16Type>(f, colnum, TSHORT, span, r, name)?),
        TUSHORT => Arc::new(read_numeric::<UInt16Type>(f, colnum, TUSHORT, span, r, name)?),
        // 'J' columns: cfitsio's TLONG is a C long (8 bytes here), so read as TINT.
        TINT | TLONG => Arc::new(read_numeric::<Int32Type>(f, colnum, TINT, span, r, name)?),
        TUINT | TULONG => Arc::new(read_numeric::<UInt32Type>(f, colnum, TUINT, span, r, name)?),
        TLONGLONG => Arc::new(read_numeric::<Int64Type>(f, colnum, TLONGLONG, span, r, name)?),
        TULONGLONG => Arc::new(read_numeric::<UInt64Type>(f, colnum, TULONGLONG, span, r, name)?),
        TFLOAT => Arc::new(read_numeric::<Float32Type>(f, colnum, TFLOAT, span, r, name)?),
        // TDOUBLE, the last of READ_TYPES (the only codes the caller passes).
        _ => Arc::new(read_numeric::<Float64Type>(f, colnum, TDOUBLE, span, r, name)?),
    })
}

/// Rows `rows` (0-based, end exclusive) of the columns named in `columns` (all when
/// `None`; names compared ignoring case, as FITS does; names the table lacks are left
/// out, so callers check the ones they require), in file order. Read in groups of
/// [`rows_per_group`] rows, every selected column of a group at a time.
pub(crate) fn read_table_rows(f: &mut FitsFile, columns: Option<&[&str]>, rows: std::ops::Range<u64>) -> Result<RecordBatch> {
    let (ncols, total) = table_shape(f)?;
    if rows.start > rows.end || rows.end > total as u64 {
        return Err(f.invalid(format!("rows {}..{} asked of a table of {total} rows", rows.start, rows.end)));
    }
    let nrows = (rows.end - rows.start) as i64;
    let mut selected = Vec::new();
    for colnum in 1..=ncols {
        let info = column_info(f, colnum)?;
        if columns.is_some_and(|want| !want.iter().any(|w| w.eq_ignore_ascii_case(&info.name))) {
            continue;
        }
        if info.repeat <= 0 || info.typecode < 0 {
            tracing::debug!(file = %f.path().display(), column = %info.name, "skipping empty or variable-length column");
            continue;
        }
        if !READ_TYPES.contains(&info.typecode) {
            tracing::warn!(file = %f.path().display(), column = %info.name, typecode = info.typecode, "skipping column of unsupported FITS type");
            continue;
        }
        selected.push((colnum, info));
    }
    let group = rows_per_group(f)?;
    let mut parts: Vec<Vec<ArrayRef>> = vec![Vec::new(); selected.len()];
    let mut first = rows.start as i64 + 1;
    let end = rows.end as i64 + 1;
    loop {
        let n = group.min(end - first);
        for ((colnum, info), part) in selected.iter().zip(&mut parts) {
            part.push(read_base(f, *colnum, info, (first, n))?);
        }
        first += n;
        if first >= end {
            break;
        }
    }
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for ((_, info), part) in selected.iter().zip(parts) {
        let base = match part.as_slice() {
            [one] => one.clone(),
            many => {
                let refs: Vec<&dyn Array> = many.iter().map(|a| a.as_ref()).collect();
                arrow_select::concat::concat(&refs).map_err(|source| FitsError::Arrow {
                    path: f.path.clone(),
                    hdu: f.current.clone(),
                    context: "joining the row groups of a column",
                    source,
                })?
            }
        };
        let r = info.repeat;
        let array: ArrayRef = if info.typecode != TSTRING && r > 1 {
            let item = Arc::new(Field::new("item", base.data_type().clone(), base.null_count() > 0));
            Arc::new(FixedSizeListArray::new(item, r as i32, base, None))
        } else {
            base
        };
        let mut meta = HashMap::new();
        if !info.unit.is_empty() {
            meta.insert("unit".to_string(), info.unit.clone());
        }
        let nullable = matches!(array.data_type(), DataType::Float32 | DataType::Float64) || array.null_count() > 0;
        fields.push(Field::new(info.name.clone(), array.data_type().clone(), nullable).with_metadata(meta));
        arrays.push(array);
    }
    let schema = Arc::new(Schema::new(fields));
    let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(nrows as usize));
    RecordBatch::try_new_with_options(schema, arrays, &options).map_err(|source| FitsError::Arrow {
        path: f.path.clone(),
        hdu: f.current.clone(),
        context: "assembling the table",
        source,
    })
}

/// The FITS TFORM letter and cfitsio datatype for an Arrow primitive type.
fn tform_code(dt: &DataType) -> Option<(&'static str, c_int)> {
    Some(match dt {
        DataType::Boolean => ("L", TLOGICAL),
        DataType::UInt8 => ("B", TBYTE),
        DataType::Int8 => ("S", TSBYTE),
        DataType::Int16 => ("I", TSHORT),
        DataType::UInt16 => ("U", TUSHORT),
        DataType::Int32 => ("J", TINT),
        DataType::UInt32 => ("V", TUINT),
        DataType::Int64 => ("K", TLONGLONG),
        DataType::UInt64 => ("W", TULONGLONG),
        DataType::Float32 => ("E", TFLOAT),
        DataType::Float64 => ("D", TDOUBLE),
        _ => return None,
    })
}

fn values_ptr(a: &dyn Array) -> Option<*const c_void> {
    Some(match a.data_type() {
        DataType::UInt8 => a.as_primitive::<UInt8Type>().values().as_ptr() as *const c_void,
        DataType::Int8 => a.as_primitive::<Int8Type>().values().as_ptr() as *const c_void,
        DataType::Int16 => a.as_primitive::<Int16Type>().values().as_ptr() as *const c_void,
        DataType::UInt16 => a.as_primitive::<UInt16Type>().values().as_ptr() as *const c_void,
        DataType::Int32 => a.as_primitive::<Int32Type>().values().as_ptr() as *const c_void,
        DataType::UInt32 => a.as_primitive::<UInt32Type>().values().as_ptr() as *const c_void,
        DataType::Int64 => a.as_primitive::<Int64Type>().values().as_ptr() as *const c_void,
        DataType::UInt64 => a.as_primitive::<UInt64Type>().values().as_ptr() as *const c_void,
        DataType::Float32 => a.as_primitive::<Float32Type>().values().as_ptr() as *const c_void,
        DataType::Float64 => a.as_primitive::<Float64Type>().values().as_ptr() as *const c_void,
        _ => return None,
    })
}

pub(crate) fn write_table(f: &mut FitsFile, extname: &str, batch: &RecordBatch, keys: &[Key]) -> Result<()> {
    f.set_current(Some(extname.to_string()));
    let schema = batch.schema();
    let mut ttypes = Vec::new();
    let mut tforms = Vec::new();
    let mut tunits = Vec::new();
    for (field, col) in schema.fields().iter().zip(batch.columns()) {
        let tform = match field.data_type() {
            DataType::Utf8 => {
                let s = col.as_string::<i32>();
                let w = (0..s.len()).map(|i| s.value(i).len()).max().unwrap_or(0).max(1);
                format!("{w}A")
            }
            DataType::FixedSizeList(item, n) => match tform_code(item.data_type()) {
                Some((code, _)) => format!("{n}{code}"),
                None => return Err(f.invalid(format!("column {} has unsupported list item type {}", field.name(), item.data_type()))),
            },
            dt => match tform_code(dt) {
                Some((code, _)) => code.to_string(),
                None => return Err(f.invalid(format!("column {} has unsupported type {dt}", field.name()))),
            },
        };
        ttypes.push(CString::new(field.name().as_str()).map_err(|_| f.invalid("NUL in column name"))?);
        tforms.push(CString::new(tform).map_err(|_| f.invalid("bad TFORM"))?);
        let unit = field.metadata().get("unit").cloned().unwrap_or_default();
        tunits.push(CString::new(unit).map_err(|_| f.invalid("NUL in unit"))?);
    }
    let mut tt: Vec<*mut c_char> = ttypes.iter().map(|c| c.as_ptr() as *mut c_char).collect();
    let mut tf: Vec<*mut c_char> = tforms.iter().map(|c| c.as_ptr() as *mut c_char).collect();
    let mut tu: Vec<*mut c_char> = tunits.iter().map(|c| c.as_ptr() as *mut c_char).collect();
    let ext = CString::new(extname).map_err(|_| f.invalid("NUL in EXTNAME"))?;
    let mut status = 0;
    // SAFETY: `f.raw()` is the open handle of `f` (non-null while the FitsFile lives); `tt`, `tf`, `tu` hold one pointer per column to NUL-terminated CStrings alive for the call, `ext` likewise (cfitsio only reads them).
    unsafe {
        sys::ffcrtb(f.raw(), BINARY_TBL, 0, tt.len() as c_int, tt.as_mut_ptr(), tf.as_mut_ptr(), tu.as_mut_ptr(), ext.as_ptr(), &mut status)
    };
    f.check("creating binary table", status)?;
    let nrows = batch.num_rows() as i64;
    for (i, (field, col)) in schema.fields().iter().zip(batch.columns()).enumerate() {
        let colnum = (i + 1) as c_int;
        let ctx = format!("writing column {}", field.name());
        if nrows == 0 {
            continue;
        }
        match field.data_type() {
            DataType::Utf8 => {
                let s = col.as_string::<i32>();
                let owned: Vec<CString> = (0..s.len()).map(|r| CString::new(s.value(r).replace('\0', "")).unwrap_or_default()).collect();
                let mut ptrs: Vec<*mut c_char> = owned.iter().map(|c| c.as_ptr() as *mut c_char).collect();
                // SAFETY: `f.raw()` is the open handle of `f` (non-null while the FitsFile lives); `ptrs` holds `nrows` pointers to NUL-terminated CStrings in `owned`, alive for the call.
                unsafe { sys::ffpcls(f.raw(), colnum, 1, 1, nrows, ptrs.as_mut_ptr(), &mut status) };
            }
            DataType::Boolean => {
                let b = col.as_boolean();
                let mut v: Vec<c_char> = (0..b.len()).map(|r| b.value(r) as c_char).collect();
                // SAFETY: `f.raw()` is the open handle of `f` (non-null while the FitsFile lives); `v` holds `nrows` logical values.
                unsafe { sys::ffpcl(f.raw(), TLOGICAL, colnum, 1, 1, nrows, v.as_mut_ptr() as *mut c_void, &mut status) };
            }
            DataType::FixedSizeList(item, n) => {
                let list = col.as_fixed_size_list();
                let values = list.values().slice(list.offset() * *n as usize, list.len() * *n as usize);
                let (_, dt) = tform_code(item.data_type()).ok_or_else(|| f.invalid(ctx.clone()))?;
                let ptr = values_ptr(values.as_ref()).ok_or_else(|| f.invalid(ctx.clone()))?;
                // SAFETY: `f.raw()` is the open handle of `f` (non-null while the FitsFile lives); `ptr` points to the Arrow values buffer of this column, which holds `nrows` (× list size) elements of the type `dt` names.
                unsafe { sys::ffpcl(f.raw(), dt, colnum, 1, 1, nrows * *n as i64, ptr as *mut c_void, &mut status) };
            }
            other => {
                let (_, dt) = tform_code(other).ok_or_else(|| f.invalid(ctx.clone()))?;
                let ptr = values_ptr(col.as_ref()).ok_or_else(|| f.invalid(ctx.clone()))?;
                // SAFETY: `f.raw()` is the open handle of `f` (non-null while the FitsFile lives); `ptr` points to the Arrow values buffer of this column, which holds `nrows` (× list size) elements of the type `dt` names.
                unsafe { sys::ffpcl(f.raw(), dt, colnum, 1, 1, nrows, ptr as *mut c_void, &mut status) };
            }
        }
        f.check(&ctx, status)?;
    }
    f.add_keys(keys)
}
