//! Every type ard-fits maps, written and read back: each binary-table TFORM (L B S I U
//! J V K W E D, nA, and repeat counts as FixedSizeList) and each image BITPIX (-32 -64
//! 32 16, plain and RICE-compressed), with the extreme values of each type. The bytes
//! on disk are checked by an independent reader: astropy (from `DESI_ARD_PEER_PYTHON`,
//! set up by `scripts/test.sh`) must see the same TFORMs, BITPIX and values.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use ard_fits::{FitsFile, Key, Pixel};
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, BooleanArray, FixedSizeListArray, PrimitiveArray, RecordBatch, StringArray};
use arrow_schema::{DataType, Field};

fn prim<T: ArrowPrimitiveType>(v: Vec<T::Native>) -> ArrayRef {
    Arc::new(PrimitiveArray::<T>::from_iter_values(v))
}

/// (column, TFORM astropy must report, values).
fn columns() -> Vec<(&'static str, &'static str, ArrayRef)> {
    let vec3 = FixedSizeListArray::new(
        Arc::new(Field::new("item", DataType::Float32, false)),
        3,
        prim::<Float32Type>(vec![1.5, -2.25, f32::MAX, 0.0, f32::MIN_POSITIVE, -0.0]),
        None,
    );
    let ivec2 = FixedSizeListArray::new(
        Arc::new(Field::new("item", DataType::Int64, false)),
        2,
        prim::<Int64Type>(vec![i64::MIN, 7, 0, i64::MAX]),
        None,
    );
    vec![
        ("L", "L", Arc::new(BooleanArray::from(vec![true, false])) as ArrayRef),
        ("B", "B", prim::<UInt8Type>(vec![0, u8::MAX])),
        ("S", "B", prim::<Int8Type>(vec![i8::MIN, i8::MAX])), // signed byte: B with TZERO = -128
        ("I", "I", prim::<Int16Type>(vec![i16::MIN, i16::MAX])),
        ("U", "I", prim::<UInt16Type>(vec![0, u16::MAX])), // I with TZERO = 32768
        ("J", "J", prim::<Int32Type>(vec![i32::MIN, i32::MAX])),
        ("V", "J", prim::<UInt32Type>(vec![0, u32::MAX])), // J with TZERO = 2^31
        ("K", "K", prim::<Int64Type>(vec![i64::MIN, i64::MAX])),
        ("W", "K", prim::<UInt64Type>(vec![0, u64::MAX])), // K with TZERO = 2^63
        ("E", "E", prim::<Float32Type>(vec![f32::MIN, f32::MAX])),
        ("D", "D", prim::<Float64Type>(vec![f64::MIN_POSITIVE, -1.0e300])),
        ("A", "5A", Arc::new(StringArray::from(vec!["dark", "multi"]))),
        ("E3", "3E", Arc::new(vec3)),
        ("K2", "2K", Arc::new(ivec2)),
    ]
}

const F32: [f32; 4] = [f32::MIN, -1.5, 0.0, f32::MAX];
const F64: [f64; 4] = [f64::MIN, -1.5e-300, 0.0, f64::MAX];
const I32: [i32; 4] = [i32::MIN, -1, 0, i32::MAX];
const I16: [i16; 4] = [i16::MIN, -1, 0, i16::MAX];
// RICE keeps integers exactly; its range is one short of the type's minimum (the
// undefined-pixel value).
const I32Z: [i32; 4] = [i32::MIN + 1, -1, 0, i32::MAX];
const I16Z: [i16; 4] = [i16::MIN + 1, -1, 0, i16::MAX];

fn check_image<T: Pixel + std::fmt::Debug + PartialEq>(f: &mut FitsFile, name: &str, want: &[T]) {
    f.move_to(name).unwrap();
    let (got, shape) = f.read_image::<T>().unwrap();
    assert_eq!(shape, vec![2, want.len() / 2], "{name}: shape");
    assert_eq!(got, want, "{name}: values");
}

fn write(path: &Path) -> RecordBatch {
    let cols = columns();
    let batch = RecordBatch::try_from_iter(cols.iter().map(|(n, _, a)| (*n, a.clone()))).unwrap();
    let mut f = FitsFile::create(path).unwrap();
    f.write_primary(&[Key::str("ORIGIN", "ard-fits test", "")]).unwrap();
    f.write_table("TYPES", &batch, &[Key::i64("NROWS", 2, "")]).unwrap();
    f.write_image("F32", &[2, 2], &F32, &[]).unwrap();
    f.write_image("F64", &[2, 2], &F64, &[]).unwrap();
    f.write_image("I32", &[2, 2], &I32, &[]).unwrap();
    f.write_image("I16", &[2, 2], &I16, &[]).unwrap();
    f.write_compressed_image("I32Z", &[2, 2], &I32Z, &[]).unwrap();
    f.write_compressed_image("I16Z", &[2, 2], &I16Z, &[]).unwrap();
    f.close().unwrap();
    batch
}

#[test]
fn every_mapped_type_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("types.fits");
    let want = write(&path);
    let mut f = FitsFile::open(&path).unwrap();
    f.move_to("TYPES").unwrap();
    let got = f.read_table().unwrap();
    for (field, w) in want.schema().fields().iter().zip(want.columns()) {
        let g = got.column_by_name(field.name()).unwrap_or_else(|| panic!("column {} not read back", field.name()));
        assert_eq!(g.data_type(), w.data_type(), "column {}: type", field.name());
        assert_eq!(g.to_data(), w.to_data(), "column {}: values", field.name());
    }
    check_image(&mut f, "F32", &F32);
    check_image(&mut f, "F64", &F64);
    check_image(&mut f, "I32", &I32);
    check_image(&mut f, "I16", &I16);
    check_image(&mut f, "I32Z", &I32Z);
    check_image(&mut f, "I16Z", &I16Z);
}

#[test]
fn astropy_reads_the_same_types_and_values() {
    let Some(py) = ard_testkit::peer_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("types.fits");
    write(&path);
    let script = r#"
import sys, numpy as np
from astropy.io import fits
h = fits.open(sys.argv[1])
t = h["TYPES"]
out = []
for i, c in enumerate(t.columns):
    v = t.data[c.name]
    out.append(f"{c.name} {t.header['TFORM%d' % (i + 1)]} {' '.join(repr(x) for x in np.ravel(v).tolist())}")
for name in ["F32", "F64", "I32", "I16", "I32Z", "I16Z"]:
    e = h[name]
    bitpix = e.header.get("ZBITPIX", e.header["BITPIX"])
    out.append(f"{name} {bitpix} {e.data.dtype.kind}{e.data.dtype.itemsize} {' '.join(repr(x) for x in np.ravel(e.data).tolist())}")
print("\n".join(out))
"#;
    let out = Command::new(py).arg("-c").arg(script).arg(&path).output().expect("run the peer python");
    assert!(out.status.success(), "astropy: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let line =
        |name: &str| text.lines().find(|l| l.split(' ').next() == Some(name)).unwrap_or_else(|| panic!("no {name} in {text}")).to_string();
    for (name, tform, _) in columns() {
        assert_eq!(line(name).split(' ').nth(1), Some(tform), "TFORM of {name}: {text}");
    }
    // Values as astropy decodes them (TZERO applied), in Python's repr.
    // astropy knows TZERO only as an unsigned-integer convention; for the signed byte
    // (TZERO = -128) it applies it as a scaling, to floats: the values are the same.
    assert_eq!(line("S"), "S B -128.0 127.0");
    assert_eq!(line("U"), "U I 0 65535");
    assert_eq!(line("V"), "V J 0 4294967295");
    assert_eq!(line("W"), "W K 0 18446744073709551615");
    assert_eq!(line("K"), format!("K K {} {}", i64::MIN, i64::MAX));
    assert_eq!(line("L"), "L L True False");
    // Strings are blank-padded to the column width (FITS standard 4.0, § 7.3.3.1).
    assert_eq!(line("A"), "A 5A 'dark ' 'multi'");
    assert_eq!(line("K2"), format!("K2 2K {} 7 0 {}", i64::MIN, i64::MAX));
    assert_eq!(line("I16"), "I16 16 i2 -32768 -1 0 32767");
    assert_eq!(line("I32"), format!("I32 32 i4 {} -1 0 {}", i32::MIN, i32::MAX));
    assert_eq!(line("I32Z"), format!("I32Z 32 i4 {} -1 0 {}", i32::MIN + 1, i32::MAX));
    assert_eq!(line("I16Z"), "I16Z 16 i2 -32767 -1 0 32767");
    let floats = |name: &str| -> Vec<f64> { line(name).split(' ').skip(3).map(|v| v.parse().unwrap()).collect() };
    assert!(line("F32").starts_with("F32 -32 f4 "), "{text}");
    assert_eq!(floats("F32"), F32.map(f64::from).to_vec());
    assert!(line("F64").starts_with("F64 -64 f8 "), "{text}");
    assert_eq!(floats("F64"), F64.to_vec());
}

/// FITS TNULLn on integer columns (FITS 4.0 §7.3.2; iron's redrock files carry
/// TNULL = 999999): astropy writes masked integer entries as TNULL, and they read back as
/// Arrow nulls — scalar and vector columns — while the other entries, and floating-point
/// NaN, read as written. (Unsigned columns are left out: astropy writes their TNULL as a
/// physical value where FITS compares stored values, so cfitsio rightly matches nothing.)
#[test]
fn tnull_entries_read_as_null() {
    let Some(py) = ard_testkit::peer_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tnull.fits");
    let script = format!(
        "import numpy as np\nfrom astropy.table import Table, MaskedColumn\nt = Table()\n\
         t['NPIX'] = MaskedColumn(np.array([7000, 999999, 12], dtype=np.int64), mask=[False, True, False], fill_value=999999)\n\
         t['ZW'] = MaskedColumn(np.array([0, 4, -1], dtype=np.int32), mask=[False, False, True])\n\
         t['V2'] = MaskedColumn(np.array([[1, 2], [3, 4], [5, 6]], dtype=np.int32), mask=[[False, True], [False, False], [False, False]])\n\
         t['F'] = np.array([1.0, np.nan, 3.0])\nfrom astropy.io import fits\nhdu = fits.table_to_hdu(t)\nhdu.name = 'T'\n\
         fits.HDUList([fits.PrimaryHDU(), hdu]).writeto({:?}, overwrite=True)\n\
         print([hdu.header.get('TNULL%d' % i) for i in range(1, 4)])\n",
        path.to_str().unwrap()
    );
    let out = Command::new(py).args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "astropy: {}", String::from_utf8_lossy(&out.stderr));
    let tnulls = String::from_utf8_lossy(&out.stdout);
    assert!(tnulls.contains("999999"), "astropy wrote no TNULL: {tnulls}");
    let mut f = FitsFile::open(&path).unwrap();
    f.move_to("T").unwrap();
    let t = f.read_table().unwrap();
    let col = |name: &str| t.column_by_name(name).unwrap_or_else(|| panic!("no {name}")).clone();
    let npix = col("NPIX");
    let npix = npix.as_any().downcast_ref::<PrimitiveArray<Int64Type>>().unwrap();
    assert_eq!((npix.is_null(1), npix.value(0), npix.value(2), npix.null_count()), (true, 7000, 12, 1));
    let zw = col("ZW");
    assert_eq!((zw.null_count(), zw.is_null(2)), (1, true));
    let v2 = col("V2");
    let v2 = v2.as_any().downcast_ref::<FixedSizeListArray>().unwrap();
    assert_eq!((v2.values().null_count(), v2.values().is_null(1)), (1, true));
    let fl = col("F");
    let fl = fl.as_any().downcast_ref::<PrimitiveArray<Float64Type>>().unwrap();
    assert!(fl.null_count() == 0 && fl.value(1).is_nan());
    assert!(t.schema().field_with_name("NPIX").unwrap().is_nullable());
}

/// A large table is read in row chunks of the columns asked for (a 28 M-row zcatalog
/// never held whole): every chunk equals the same rows of the full read, for each
/// type, names matched ignoring case, and a range past the end is an error naming it.
#[test]
fn row_chunks_of_named_columns_equal_the_full_read() {
    let n = 1000usize;
    let ids = prim::<Int64Type>((0..n as i64).map(|i| 39_633_345_008_634_465 + i).collect());
    let z = prim::<Float64Type>((0..n).map(|i| i as f64 * 1e-3).collect());
    let zwarn = prim::<Int32Type>((0..n as i32).map(|i| i % 5).collect());
    let spectype = Arc::new(StringArray::from((0..n).map(|i| ["GALAXY", "QSO", "STAR"][i % 3]).collect::<Vec<_>>())) as ArrayRef;
    let primary = Arc::new(BooleanArray::from((0..n).map(|i| i % 2 == 0).collect::<Vec<_>>())) as ArrayRef;
    let coeff = FixedSizeListArray::new(
        Arc::new(Field::new("item", DataType::Float32, false)),
        3,
        prim::<Float32Type>((0..3 * n).map(|i| i as f32).collect()),
        None,
    );
    let batch = RecordBatch::try_from_iter([
        ("TARGETID", ids),
        ("Z", z),
        ("ZWARN", zwarn),
        ("SPECTYPE", spectype),
        ("ZCAT_PRIMARY", primary),
        ("COEFF", Arc::new(coeff) as ArrayRef),
    ])
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zcat.fits");
    let mut f = FitsFile::create(&path).unwrap();
    f.write_primary(&[]).unwrap();
    f.write_table("ZCATALOG", &batch, &[]).unwrap();
    f.close().unwrap();

    let mut f = FitsFile::open(&path).unwrap();
    f.move_to("ZCATALOG").unwrap();
    assert_eq!(f.table_rows().unwrap(), n as u64);
    assert_eq!(f.column_names().unwrap(), ["TARGETID", "Z", "ZWARN", "SPECTYPE", "ZCAT_PRIMARY", "COEFF"]);
    let full = f.read_table().unwrap();
    let wanted = ["coeff", "targetid", "SPECTYPE", "ZCAT_PRIMARY", "ZWARN", "NOT_THERE"];
    let mut start = 0u64;
    for len in [1u64, 299, 0, 400, 300] {
        let chunk = f.read_table_rows(Some(&wanted), start..start + len).unwrap();
        assert_eq!(chunk.num_rows() as u64, len);
        let names: Vec<String> = chunk.schema().fields().iter().map(|c| c.name().clone()).collect();
        assert_eq!(names, ["TARGETID", "ZWARN", "SPECTYPE", "ZCAT_PRIMARY", "COEFF"], "file order, only the columns asked for");
        for name in &names {
            let want = full.column_by_name(name).unwrap().slice(start as usize, len as usize);
            assert_eq!(chunk.column_by_name(name).unwrap().to_data(), want.to_data(), "{name} rows {start}..{}", start + len);
        }
        start += len;
    }
    assert_eq!(start, n as u64);
    let err = f.read_table_rows(None, 900..1001).unwrap_err().to_string();
    assert!(err.contains("rows 900..1001") && err.contains("1000 rows") && err.contains("zcat.fits"), "{err}");
}
