//! `ard-fits` owns every call into cfitsio in desi-ard.
//!
//! DESI publishes FITS files whose HDUs must be found by EXTNAME (never by number),
//! whose binary tables differ in columns between surveys and productions, and whose
//! images may be plain, integer-with-BZERO or tile-compressed. cfitsio (built from
//! source by `fitsio-sys`'s `fitsio-src` feature) handles all encodings; this crate
//! wraps the handful of calls we need in a safe API:
//!
//! * [`FitsFile::open`] / [`FitsFile::create`] — one handle per file, closed on drop;
//! * [`FitsFile::move_to`] — an HDU by EXTNAME, with an error listing what exists;
//! * [`FitsFile::read_image`] — any image HDU as `f32`, `f64` or `i32`, in numpy
//!   axis order (slowest axis first), whatever its on-disk encoding;
//! * [`FitsFile::read_table`] — a binary table as an Arrow [`RecordBatch`] whose
//!   schema comes from the header (TTYPE/TFORM/TUNIT/TZERO), vector columns as
//!   `FixedSizeList`, fixed-width strings trimmed;
//! * [`FitsFile::write_image`] / [`FitsFile::write_table`] — the reverse, used by the
//!   simulator so that what it writes is what the reader reads.
//!
//! cfitsio is built re-entrant, so separate handles may be used from separate threads.
//!
//! ```
//! use ard_fits::{FitsFile, Key};
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("x.fits");
//! let mut f = FitsFile::create(&path).unwrap();
//! f.write_primary(&[Key::str("SURVEY", "main", "survey")]).unwrap();
//! f.write_image("WAVE", &[3], &[1.0f64, 2.0, 3.0], &[]).unwrap();
//! drop(f);
//! let mut f = FitsFile::open(&path).unwrap();
//! f.move_to("WAVE").unwrap();
//! let (data, shape) = f.read_image::<f64>().unwrap();
//! assert_eq!((data, shape), (vec![1.0, 2.0, 3.0], vec![3]));
//! ```
#![deny(missing_docs)]

mod error;
mod table;

use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_void};
use std::path::{Path, PathBuf};

use fitsio_sys as sys;

pub use arrow_array::RecordBatch;
pub use error::{FitsError, Result};

// cfitsio data-type codes (fitsio.h); stable across cfitsio versions.
pub(crate) const TLOGICAL: c_int = 14;
pub(crate) const TSTRING: c_int = 16;
pub(crate) const TBYTE: c_int = 11;
pub(crate) const TSBYTE: c_int = 12;
pub(crate) const TUSHORT: c_int = 20;
pub(crate) const TSHORT: c_int = 21;
pub(crate) const TUINT: c_int = 30;
pub(crate) const TINT: c_int = 31;
pub(crate) const TULONG: c_int = 40;
pub(crate) const TLONG: c_int = 41;
pub(crate) const TFLOAT: c_int = 42;
pub(crate) const TULONGLONG: c_int = 80;
pub(crate) const TLONGLONG: c_int = 81;
pub(crate) const TDOUBLE: c_int = 82;
const IMAGE_HDU: c_int = 0;
const BINARY_TBL: c_int = 2;
const ANY_HDU: c_int = -1;
const RICE_1: c_int = 11;

/// A value of a header keyword.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyValue {
    /// A character string.
    Str(String),
    /// A floating-point number.
    F64(f64),
    /// An integer.
    I64(i64),
    /// A logical (T/F).
    Bool(bool),
}

/// A header keyword to write: name, value and comment.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// Keyword name (at most 8 characters for standard keywords).
    pub name: String,
    /// Its value.
    pub value: KeyValue,
    /// The comment after the value.
    pub comment: String,
}

impl Key {
    /// A string-valued keyword.
    pub fn str(name: &str, value: &str, comment: &str) -> Self {
        Key { name: name.into(), value: KeyValue::Str(value.into()), comment: comment.into() }
    }
    /// A float-valued keyword.
    pub fn f64(name: &str, value: f64, comment: &str) -> Self {
        Key { name: name.into(), value: KeyValue::F64(value), comment: comment.into() }
    }
    /// An integer-valued keyword.
    pub fn i64(name: &str, value: i64, comment: &str) -> Self {
        Key { name: name.into(), value: KeyValue::I64(value), comment: comment.into() }
    }
    /// A logical keyword.
    pub fn bool(name: &str, value: bool, comment: &str) -> Self {
        Key { name: name.into(), value: KeyValue::Bool(value), comment: comment.into() }
    }
}

/// The kind of the current HDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HduKind {
    /// An image (plain or tile-compressed: cfitsio presents both as images).
    Image,
    /// A binary table.
    BinaryTable,
    /// An ASCII table.
    AsciiTable,
}

/// Pixel types an image can be read as or written from.
pub trait Pixel: Copy + Default + 'static {
    /// cfitsio data-type code for this Rust type.
    const DATATYPE: c_int;
    /// BITPIX used when writing an image of this type.
    const BITPIX: c_int;
}
impl Pixel for f32 {
    const DATATYPE: c_int = TFLOAT;
    const BITPIX: c_int = -32;
}
impl Pixel for f64 {
    const DATATYPE: c_int = TDOUBLE;
    const BITPIX: c_int = -64;
}
impl Pixel for i32 {
    const DATATYPE: c_int = TINT;
    const BITPIX: c_int = 32;
}
impl Pixel for i16 {
    const DATATYPE: c_int = TSHORT;
    const BITPIX: c_int = 16;
}

/// An open FITS file. Closed when dropped.
pub struct FitsFile {
    ptr: *mut sys::fitsfile,
    path: PathBuf,
    current: Option<String>,
}

// SAFETY: a cfitsio handle is only used through `&mut self` (never shared), and cfitsio
// is built re-entrant, so moving a handle to another thread is sound.
unsafe impl Send for FitsFile {}

impl std::fmt::Debug for FitsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FitsFile").field("path", &self.path).field("hdu", &self.current).finish()
    }
}

fn cstring(path: &Path, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| FitsError::Invalid {
        path: path.to_path_buf(),
        hdu: None,
        message: format!("string contains a NUL byte: {s:?}"),
    })
}

/// FITS files are written in blocks of this many bytes (FITS 4.0 §3.1).
const FITS_BLOCK: u64 = 2880;

/// Why a file cannot be FITS, judged from its first bytes (FITS 4.0 §4.4.1.1: a primary
/// header begins with `SIMPLE  =`), or `None` when it may be. Gzip and other compressed
/// files pass: cfitsio inflates them.
fn not_fits_reason(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut head = [0u8; 9];
    let n = std::fs::File::open(path).and_then(|mut f| f.read(&mut head)).ok()?;
    let head = &head[..n];
    if n == 0 {
        return Some("the file is empty".into());
    }
    let compressed = head.starts_with(&[0x1f, 0x8b]) || head.starts_with(b"BZh") || head.starts_with(b"PK");
    if compressed || head == b"SIMPLE  =" {
        return None;
    }
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    Some(format!("it does not begin with a FITS primary header (SIMPLE  =); {size} bytes"))
}

/// cfitsio's text for a status plus whatever is on its error-message stack, without the
/// lines that only repeat (pieces of) the file's name `path` or echo unparsable bytes.
fn status_message(status: c_int, path: &str) -> String {
    let mut text = [0 as c_char; 32];
    // SAFETY: `text` has the 31 + 1 bytes cfitsio writes at most (FLEN_STATUS) and is NUL-terminated by it.
    unsafe { sys::ffgerr(status, text.as_mut_ptr()) };
    // SAFETY: cfitsio NUL-terminated the buffer it filled; it lives until the end of this function.
    let mut msg = unsafe { CStr::from_ptr(text.as_ptr()) }.to_string_lossy().into_owned();
    loop {
        let mut buf = [0 as c_char; 96];
        // SAFETY: `buf` has room for cfitsio's 80-character messages (FLEN_ERRMSG) and their NUL.
        let more = unsafe { sys::ffgmsg(buf.as_mut_ptr()) };
        if more == 0 {
            break;
        }
        // SAFETY: cfitsio NUL-terminated the buffer it filled; it lives until the end of this function.
        let m = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().trim().to_string();
        // cfitsio echoes the bytes it could not parse and repeats the file name, split over
        // its 80-character lines: neither helps a reader of the log (the error names the
        // file already).
        let readable = m.chars().all(|c| c.is_ascii_graphic() || c == ' ');
        let names_the_file = m.starts_with("file://") || (m.len() >= 3 && path.contains(&m));
        if readable && !m.is_empty() && !names_the_file && !msg.contains(&m) {
            msg.push_str("; ");
            msg.push_str(&m);
        }
    }
    msg
}

impl FitsFile {
    /// Opens an existing file read-only.
    ///
    /// # Errors
    /// [`FitsError::NotFits`] when its first bytes are no FITS header;
    /// [`FitsError::Cfitsio`] when it does not exist or cfitsio cannot read its primary
    /// header (truncated, ...).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if !path.is_file() {
            return Err(FitsError::Cfitsio {
                path: path.clone(),
                hdu: None,
                context: "opening".into(),
                status: 104,
                message: "no such file".into(),
            });
        }
        // A bare path: cfitsio's extended filename syntax ([1], +2, ...) must not apply.
        let name = cstring(&path, &format!("file://{}", path.display()))?;
        let mut ptr = std::ptr::null_mut();
        let mut status = 0;
        // SAFETY: `ptr` and `status` are locals cfitsio writes; `name` is a NUL-terminated CString alive for the call.
        unsafe { sys::ffopen(&mut ptr, name.as_ptr(), 0, &mut status) };
        let mut f = FitsFile { ptr, path, current: Some("PRIMARY".into()) };
        if status != 0 {
            f.ptr = std::ptr::null_mut();
            // Only now look at the first bytes: a file that is no FITS at all gets a short
            // reason instead of cfitsio's.
            if let Some(reason) = not_fits_reason(&f.path) {
                return Err(FitsError::NotFits { path: f.path.clone(), reason });
            }
            return Err(f.err_status("opening", status));
        }
        Ok(f)
    }

    /// Creates a new file, replacing any existing one.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if path.exists() {
            std::fs::remove_file(&path).map_err(|source| FitsError::Io {
                path: path.clone(),
                context: "cannot replace the existing file",
                source,
            })?;
        }
        let name = cstring(&path, &format!("file://{}", path.display()))?;
        let mut ptr = std::ptr::null_mut();
        let mut status = 0;
        // SAFETY: `ptr` and `status` are locals cfitsio writes; `name` is a NUL-terminated CString alive for the call.
        unsafe { sys::ffinit(&mut ptr, name.as_ptr(), &mut status) };
        let mut f = FitsFile { ptr, path, current: None };
        if status != 0 {
            f.ptr = std::ptr::null_mut();
            return Err(f.err_status("creating", status));
        }
        Ok(f)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn err_status(&self, context: &str, status: c_int) -> FitsError {
        let mut message = status_message(status, &self.path.display().to_string());
        // A file cut short (an interrupted copy) is the usual cause of read errors: say so.
        if let Ok(meta) = std::fs::metadata(&self.path) {
            if meta.len() % FITS_BLOCK != 0 {
                message.push_str(&format!(
                    "; the file is {} bytes, not a whole number of {FITS_BLOCK}-byte FITS blocks: truncated?",
                    meta.len()
                ));
            }
        }
        FitsError::Cfitsio { path: self.path.clone(), hdu: self.current.clone(), context: context.to_string(), status, message }
    }

    pub(crate) fn invalid(&self, message: impl Into<String>) -> FitsError {
        FitsError::Invalid { path: self.path.clone(), hdu: self.current.clone(), message: message.into() }
    }

    pub(crate) fn check(&self, context: &str, status: c_int) -> Result<()> {
        if status == 0 {
            Ok(())
        } else {
            Err(self.err_status(context, status))
        }
    }

    pub(crate) fn raw(&mut self) -> *mut sys::fitsfile {
        self.ptr
    }

    /// The EXTNAME of the current HDU (`PRIMARY` for the first one).
    pub fn current_hdu(&self) -> Option<&str> {
        self.current.as_deref()
    }

    /// Number of HDUs in the file.
    pub fn hdu_count(&mut self) -> Result<usize> {
        let mut n = 0;
        let mut status = 0;
        // SAFETY: `self.ptr` is the open handle this FitsFile owns (non-null: `open`/`create` return an error instead, `close` consumes the value); the out-pointers are to locals.
        unsafe { sys::ffthdu(self.ptr, &mut n, &mut status) };
        self.check("counting HDUs", status)?;
        Ok(n as usize)
    }

    /// The EXTNAME of every HDU, in file order (`PRIMARY` for the first when unnamed).
    pub fn hdu_names(&mut self) -> Result<Vec<String>> {
        let n = self.hdu_count()?;
        let mut names = Vec::with_capacity(n);
        for i in 1..=n {
            let mut status = 0;
            let mut kind = 0;
            // SAFETY: `self.ptr` is the open handle this FitsFile owns (non-null: `open`/`create` return an error instead, `close` consumes the value); the out-pointers are to locals.
            unsafe { sys::ffmahd(self.ptr, i as c_int, &mut kind, &mut status) };
            self.check(&format!("moving to HDU {i}"), status)?;
            let name = self.read_key_str("EXTNAME")?;
            names.push(name.unwrap_or_else(|| if i == 1 { "PRIMARY".into() } else { format!("HDU{i}") }));
        }
        self.move_to_primary()?;
        Ok(names)
    }

    /// Whether an HDU with this EXTNAME exists. Leaves the file at the primary HDU.
    pub fn has_hdu(&mut self, extname: &str) -> Result<bool> {
        let found = self.hdu_names()?.iter().any(|n| n.eq_ignore_ascii_case(extname));
        Ok(found)
    }

    /// Moves to the primary HDU.
    pub fn move_to_primary(&mut self) -> Result<()> {
        let mut status = 0;
        let mut kind = 0;
        // SAFETY: `self.ptr` is the open handle this FitsFile owns (non-null: `open`/`create` return an error instead, `close` consumes the value); the out-pointers are to locals.
        unsafe { sys::ffmahd(self.ptr, 1, &mut kind, &mut status) };
        self.current = Some("PRIMARY".into());
        self.check("moving to the primary HDU", status)
    }

    /// Moves to the HDU with this EXTNAME and says what kind it is.
    ///
    /// # Errors
    /// [`FitsError::MissingHdu`] listing the HDUs present, or [`FitsError::Cfitsio`] when
    /// the file is corrupt.
    pub fn move_to(&mut self, extname: &str) -> Result<HduKind> {
        if extname.eq_ignore_ascii_case("PRIMARY") {
            self.move_to_primary()?;
            return Ok(HduKind::Image);
        }
        let name = cstring(&self.path, extname)?;
        let mut status = 0;
        // SAFETY: `self.ptr` is the open handle this FitsFile owns (non-null: `open`/`create` return an error instead, `close` consumes the value); `name` is a NUL-terminated CString alive for the call (cfitsio only reads it, despite the `*mut`).
        unsafe { sys::ffmnhd(self.ptr, ANY_HDU, name.as_ptr() as *mut c_char, 0, &mut status) };
        if status == sys::BAD_HDU_NUM as c_int {
            // SAFETY: clears cfitsio's global error-message stack; takes no pointers.
            unsafe { sys::ffcmsg() };
            let available = self.hdu_names()?;
            return Err(FitsError::MissingHdu { path: self.path.clone(), extname: extname.into(), available });
        }
        self.current = Some(extname.to_string());
        self.check("moving to HDU", status)?;
        self.hdu_kind()
    }

    /// The kind of the current HDU.
    pub fn hdu_kind(&mut self) -> Result<HduKind> {
        let mut status = 0;
        let mut kind = 0;
        // SAFETY: `self.ptr` is the open handle this FitsFile owns (non-null: `open`/`create` return an error instead, `close` consumes the value); the out-pointers are to locals.
        unsafe { sys::ffghdt(self.ptr, &mut kind, &mut status) };
        self.check("reading the HDU type", status)?;
        Ok(match kind {
            IMAGE_HDU => HduKind::Image,
            BINARY_TBL => HduKind::BinaryTable,
            _ => HduKind::AsciiTable,
        })
    }

    /// Reads a string keyword of the current HDU; `None` when absent. Long strings
    /// (CONTINUE convention) are read whole; surrounding blanks are trimmed.
    pub fn read_key_str(&mut self, key: &str) -> Result<Option<String>> {
        let k = cstring(&self.path, key)?;
        let mut status = 0;
        let mut value: *mut c_char = std::ptr::null_mut();
        // SAFETY: `self.ptr` is the open handle this FitsFile owns (non-null: `open`/`create` return an error instead, `close` consumes the value); `k` is a NUL-terminated CString; cfitsio allocates the value and stores its pointer in the local `value` (freed below with fffree).
        unsafe { sys::ffgkls(self.ptr, k.as_ptr(), &mut value, std::ptr::null_mut(), &mut status) };
        if status == 202 {
            // KEY_NO_EXIST
            // SAFETY: clears cfitsio's global error-message stack; takes no pointers.
            unsafe { sys::ffcmsg() };
            return Ok(None);
        }
        if status != 0 {
            return Err(self.err_status(&format!("reading keyword {key}"), status));
        }
        // SAFETY: on status 0, `value` points to the NUL-terminated string cfitsio allocated; it is freed only after this copy.
        let s = unsafe { CStr::from_ptr(value) }.to_string_lossy().trim().to_string();
        let mut st2 = 0;
        // SAFETY: `value` was allocated by cfitsio in ffgkls and is freed exactly once.
        unsafe { sys::fffree(value as *mut c_void, &mut st2) };
        Ok(Some(s))
    }

    /// Reads a numeric keyword of the current HDU as f64; `None` when absent.
    pub fn read_key_f64(&mut self, key: &str) -> Result<Option<f64>> {
        let k = cstring(&self.path, key)?;
        let mut status = 0;
        let mut value = 0f64;
        // SAFETY: `self.ptr` is the open handle this FitsFile owns (non-null: `open`/`create` return an error instead, `close` consumes the value); `k` is a NUL-terminated CString and `value` a local of exactly the type the datatype code names.
        unsafe { sys::ffgky(self.ptr, TDOUBLE, k.as_ptr(), &mut value as *mut f64 as *mut c_void, std::ptr::null_mut(), &mut status) };
        if status == 202 {
            // SAFETY: clears cfitsio's global error-message stack; takes no pointers.
            unsafe { sys::ffcmsg() };
            return Ok(None);
        }
        self.check(&format!("reading keyword {key}"), status)?;
        Ok(Some(value))
    }

    /// Reads an integer keyword of the current HDU; `None` when absent.
    pub fn read_key_i64(&mut self, key: &str) -> Result<Option<i64>> {
        let k = cstring(&self.path, key)?;
        let mut status = 0;
        let mut value = 0i64;
        // SAFETY: `self.ptr` is the open handle this FitsFile owns (non-null: `open`/`create` return an error instead, `close` consumes the value); `k` is a NUL-terminated CString and `value` a local of exactly the type the datatype code names.
        unsafe { sys::ffgky(self.ptr, TLONGLONG, k.as_ptr(), &mut value as *mut i64 as *mut c_void, std::ptr::null_mut(), &mut status) };
        if status == 202 {
            // SAFETY: clears cfitsio's global error-message stack; takes no pointers.
            unsafe { sys::ffcmsg() };
            return Ok(None);
        }
        self.check(&format!("reading keyword {key}"), status)?;
        Ok(Some(value))
    }

    /// Shape of the current image HDU in numpy order (slowest axis first).
    pub fn image_shape(&mut self) -> Result<Vec<usize>> {
        if self.hdu_kind()? != HduKind::Image {
            return Err(FitsError::WrongHduType {
                path: self.path.clone(),
                hdu: self.current.clone().unwrap_or_default(),
                expected: "an image HDU",
                found: "a table".into(),
            });
        }
        let mut status = 0;
        let mut bitpix = 0;
        let mut naxis = 0;
        let mut naxes = [0i64; 9];
        // SAFETY: `self.ptr` is the open handle this FitsFile owns (non-null: `open`/`create` return an error instead, `close` consumes the value); `naxes` holds the 9 values maxdim = 9 allows.
        unsafe { sys::ffgiprll(self.ptr, 9, &mut bitpix, &mut naxis, naxes.as_mut_ptr(), &mut status) };
        self.check("reading image dimensions", status)?;
        let mut shape: Vec<usize> = naxes[..naxis.clamp(0, 9) as usize].iter().map(|&n| n.max(0) as usize).collect();
        shape.reverse();
        Ok(shape)
    }

    /// Reads the whole current image HDU converted to `T`, with its shape in numpy
    /// order. Works for plain, BZERO-scaled and tile-compressed images alike.
    pub fn read_image<T: Pixel>(&mut self) -> Result<(Vec<T>, Vec<usize>)> {
        let shape = self.image_shape()?;
        let rows = shape.first().copied().unwrap_or(0);
        let data = self.read_image_rows::<T>(&shape, 0..rows)?;
        Ok((data, shape))
    }

    /// Reads rows `rows` (along the slowest axis, numpy's first) of the current image
    /// HDU, whose shape [`FitsFile::image_shape`] gave, converted to `T`: the pixels are
    /// contiguous on disk, so a chunk of spectra costs only its own memory.
    ///
    /// # Errors
    /// [`FitsError::Invalid`] when `rows` runs past the image; cfitsio's errors.
    pub fn read_image_rows<T: Pixel>(&mut self, shape: &[usize], rows: std::ops::Range<usize>) -> Result<Vec<T>> {
        let (first, n) = self.row_span(shape, &rows)?;
        // SAFETY: `T::DATATYPE` is the cfitsio code of `T` (the `Pixel` contract).
        unsafe { self.read_pixels::<T>(T::DATATYPE, first, n, "reading image data") }
    }

    /// Reads `n` pixels from pixel `first` (1-based) of the current image, converted by
    /// cfitsio to the type `datatype` names.
    ///
    /// # Safety
    /// `datatype` must be the cfitsio code of `T` (TFLOAT for f32, TUINT for u32, ...): cfitsio
    /// writes `n` values of that type into the buffer.
    unsafe fn read_pixels<T: Copy + Default>(&mut self, datatype: c_int, first: i64, n: usize, context: &str) -> Result<Vec<T>> {
        let mut data = vec![T::default(); n];
        if n > 0 {
            let mut status = 0;
            let mut anynul = 0;
            // SAFETY: `self.ptr` is the open handle this FitsFile owns (non-null: `open`/`create` return an error instead, `close` consumes the value); `data` holds exactly `n` elements of the type `datatype` names (the caller's contract), and the callers take `first`/`n` from `row_span`, inside the image.
            unsafe {
                sys::ffgpv(
                    self.ptr,
                    datatype,
                    first,
                    n as i64,
                    std::ptr::null_mut(),
                    data.as_mut_ptr() as *mut c_void,
                    &mut anynul,
                    &mut status,
                )
            };
            self.check(context, status)?;
        }
        Ok(data)
    }

    /// First pixel (1-based) and pixel count of `rows` of an image of `shape`.
    fn row_span(&self, shape: &[usize], rows: &std::ops::Range<usize>) -> Result<(i64, usize)> {
        let nrows = shape.first().copied().unwrap_or(0);
        if shape.is_empty() || rows.start > rows.end || rows.end > nrows {
            return Err(FitsError::Invalid {
                path: self.path.clone(),
                hdu: self.current.clone(),
                message: format!("rows {}..{} are not inside an image of shape {shape:?}", rows.start, rows.end),
            });
        }
        let per_row: usize = shape[1..].iter().product();
        Ok(((rows.start * per_row) as i64 + 1, rows.len() * per_row))
    }

    /// Reads an integer bit-mask image as 32-bit patterns. Masks are stored as
    /// signed int32, as unsigned int32 (int32 + BZERO = 2^31) or tile-compressed;
    /// reading an unsigned mask as signed would overflow on bit 31, so the on-disk
    /// equivalent type picks the conversion and the bits are kept as they are.
    pub fn read_mask_image(&mut self) -> Result<(Vec<i32>, Vec<usize>)> {
        let shape = self.image_shape()?;
        let rows = shape.first().copied().unwrap_or(0);
        let data = self.read_mask_image_rows(&shape, 0..rows)?;
        Ok((data, shape))
    }

    /// [`FitsFile::read_mask_image`] for rows `rows` of an image of `shape` (see
    /// [`FitsFile::read_image_rows`]).
    pub fn read_mask_image_rows(&mut self, shape: &[usize], rows: std::ops::Range<usize>) -> Result<Vec<i32>> {
        let mut status = 0;
        let mut eqtype = 0;
        // SAFETY: `self.ptr` is the open handle this FitsFile owns (non-null: `open`/`create` return an error instead, `close` consumes the value); the out-pointers are to locals.
        unsafe { sys::ffgiet(self.ptr, &mut eqtype, &mut status) };
        self.check("reading the image type", status)?;
        const ULONG_IMG: c_int = 40;
        if eqtype != ULONG_IMG {
            return self.read_image_rows::<i32>(shape, rows);
        }
        let (first, n) = self.row_span(shape, &rows)?;
        // SAFETY: TUINT is the cfitsio code of u32.
        let data = unsafe { self.read_pixels::<u32>(TUINT, first, n, "reading mask data") }?;
        Ok(data.into_iter().map(|v| v as i32).collect())
    }

    fn write_keys(&mut self, keys: &[Key]) -> Result<()> {
        for key in keys {
            let name = cstring(&self.path, &key.name)?;
            let comment = cstring(&self.path, &key.comment)?;
            let mut status = 0;
            match &key.value {
                KeyValue::Str(s) => {
                    let v = cstring(&self.path, s)?;
                    // SAFETY: `self.ptr` is the open handle this FitsFile owns (non-null: `open`/`create` return an error instead, `close` consumes the value); `name`, `v` and `comment` are NUL-terminated CStrings alive for the call.
                    unsafe { sys::ffukys(self.ptr, name.as_ptr(), v.as_ptr(), comment.as_ptr(), &mut status) };
                }
                KeyValue::F64(x) => {
                    let mut v = *x;
                    // SAFETY: `self.ptr` is the open handle this FitsFile owns (non-null: `open`/`create` return an error instead, `close` consumes the value); `name` and `comment` are NUL-terminated CStrings and `v` a local of the type the datatype code names.
                    unsafe {
                        sys::ffpky(self.ptr, TDOUBLE, name.as_ptr(), &mut v as *mut f64 as *mut c_void, comment.as_ptr(), &mut status)
                    };
                }
                KeyValue::I64(x) => {
                    let mut v = *x;
                    // SAFETY: `self.ptr` is the open handle this FitsFile owns (non-null: `open`/`create` return an error instead, `close` consumes the value); `name` and `comment` are NUL-terminated CStrings and `v` a local of the type the datatype code names.
                    unsafe {
                        sys::ffpky(self.ptr, TLONGLONG, name.as_ptr(), &mut v as *mut i64 as *mut c_void, comment.as_ptr(), &mut status)
                    };
                }
                KeyValue::Bool(b) => {
                    let mut v: c_int = i32::from(*b);
                    // SAFETY: `self.ptr` is the open handle this FitsFile owns (non-null: `open`/`create` return an error instead, `close` consumes the value); `name` and `comment` are NUL-terminated CStrings and `v` a local of the type the datatype code names.
                    unsafe {
                        sys::ffpky(self.ptr, TLOGICAL, name.as_ptr(), &mut v as *mut c_int as *mut c_void, comment.as_ptr(), &mut status)
                    };
                }
            }
            self.check(&format!("writing keyword {}", key.name), status)?;
        }
        Ok(())
    }

    /// Writes an empty primary HDU with these keywords. Must be the first HDU written.
    pub fn write_primary(&mut self, keys: &[Key]) -> Result<()> {
        let mut status = 0;
        // SAFETY: `self.ptr` is the open handle this FitsFile owns (non-null: `open`/`create` return an error instead, `close` consumes the value); `naxes` has `naxis` elements (none for the empty primary).
        unsafe { sys::ffcrimll(self.ptr, 8, 0, std::ptr::null_mut(), &mut status) };
        self.current = Some("PRIMARY".into());
        self.check("writing the primary HDU", status)?;
        self.write_keys(keys)
    }

    /// Adds keywords to the current HDU.
    pub fn add_keys(&mut self, keys: &[Key]) -> Result<()> {
        self.write_keys(keys)
    }

    /// Appends an image HDU named `extname`; `shape` in numpy order.
    pub fn write_image<T: Pixel>(&mut self, extname: &str, shape: &[usize], data: &[T], keys: &[Key]) -> Result<()> {
        self.write_image_impl(extname, shape, data, keys, false)
    }

    /// Appends a RICE tile-compressed integer image HDU (as DESI writes some masks).
    pub fn write_compressed_image<T: Pixel>(&mut self, extname: &str, shape: &[usize], data: &[T], keys: &[Key]) -> Result<()> {
        self.write_image_impl(extname, shape, data, keys, true)
    }

    fn write_image_impl<T: Pixel>(&mut self, extname: &str, shape: &[usize], data: &[T], keys: &[Key], compress: bool) -> Result<()> {
        self.current = Some(extname.to_string());
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(self.invalid(format!("image shape {shape:?} holds {n} values but {} were given", data.len())));
        }
        let mut naxes: Vec<i64> = shape.iter().rev().map(|&s| s as i64).collect();
        let mut status = 0;
        if compress {
            // SAFETY: `self.ptr` is the open handle this FitsFile owns (non-null: `open`/`create` return an error instead, `close` consumes the value); the out-pointer is to a local.
            unsafe { sys::fits_set_compression_type(self.ptr, RICE_1, &mut status) };
        }
        // SAFETY: `self.ptr` is the open handle this FitsFile owns (non-null: `open`/`create` return an error instead, `close` consumes the value); `naxes` has `naxis` elements (none for the empty primary).
        unsafe { sys::ffcrimll(self.ptr, T::BITPIX, naxes.len() as c_int, naxes.as_mut_ptr(), &mut status) };
        self.check("creating image HDU", status)?;
        if compress {
            // SAFETY: `self.ptr` is the open handle this FitsFile owns (non-null: `open`/`create` return an error instead, `close` consumes the value); the out-pointer is to a local.
            unsafe { sys::fits_set_compression_type(self.ptr, 0, &mut status) };
        }
        let mut keys_all = vec![Key::str("EXTNAME", extname, "extension name")];
        keys_all.extend_from_slice(keys);
        self.write_keys(&keys_all)?;
        if n > 0 {
            // SAFETY: `self.ptr` is the open handle this FitsFile owns (non-null: `open`/`create` return an error instead, `close` consumes the value); `data` holds `n` elements of `T`, checked against the shape above.
            unsafe { sys::ffppr(self.ptr, T::DATATYPE, 1, n as i64, data.as_ptr() as *mut c_void, &mut status) };
            self.check("writing image data", status)?;
        }
        Ok(())
    }

    /// Reads the current HDU's binary table as an Arrow record batch (see the crate docs).
    pub fn read_table(&mut self) -> Result<RecordBatch> {
        table::read_table(self)
    }

    /// The number of rows of the current HDU's binary table.
    pub fn table_rows(&mut self) -> Result<u64> {
        Ok(table::table_shape(self)?.1 as u64)
    }

    /// The column names of the current HDU's binary table, in file order.
    pub fn column_names(&mut self) -> Result<Vec<String>> {
        table::column_names(self)
    }

    /// Reads rows `rows` (0-based, end exclusive) of the named columns of the current
    /// binary table (all columns when `columns` is `None`; names match ignoring case, and
    /// names the table lacks are left out): a large table read in row chunks, holding in
    /// memory only the columns asked for.
    pub fn read_table_rows(&mut self, columns: Option<&[&str]>, rows: std::ops::Range<u64>) -> Result<RecordBatch> {
        table::read_table_rows(self, columns, rows)
    }

    /// Appends a binary-table HDU named `extname` holding `batch`.
    pub fn write_table(&mut self, extname: &str, batch: &RecordBatch, keys: &[Key]) -> Result<()> {
        table::write_table(self, extname, batch, keys)
    }

    pub(crate) fn set_current(&mut self, name: Option<String>) {
        self.current = name;
    }
}

impl Drop for FitsFile {
    fn drop(&mut self) {
        if !self.ptr.is_null() {
            let mut status = 0;
            // SAFETY: the handle is non-null (checked or owned) and is closed exactly once: the pointer is not used again.
            unsafe { sys::ffclos(self.ptr, &mut status) };
            if status != 0 {
                tracing::warn!(path = %self.path.display(), status, "closing FITS file failed: {}", status_message(status, &self.path.display().to_string()));
            }
            self.ptr = std::ptr::null_mut();
        }
    }
}

impl FitsFile {
    /// Closes the file, reporting an error that `drop` would only log (a full disk
    /// while flushing, say).
    pub fn close(mut self) -> Result<()> {
        let mut status = 0;
        // SAFETY: the handle is non-null (checked or owned) and is closed exactly once: the pointer is not used again.
        unsafe { sys::ffclos(self.ptr, &mut status) };
        self.ptr = std::ptr::null_mut();
        self.check("closing", status)
    }
}
