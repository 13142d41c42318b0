//! DESI's afterburners and value-added catalogues, read for joining onto the catalogue
//! rows of the coadds they were computed from.
//!
//! * afterburners beside each healpix coadd (desidatamodel, `healpix/SURVEY/PROGRAM/
//!   PIXGROUP/PIXNUM/`): `emline-*.fits` (HDU EMLINEFIT, desispec's Gaussian line fits),
//!   `qso_mgii-*.fits` (MGII) and `qso_qn-*.fits` (QN_RR, QuasarNET). One file per
//!   (survey, program, pixel), so they join on TARGETID within the coadd's rows;
//! * the fastspecfit VAC (`fastspec-iron-SURVEY-PROGRAM.fits`, fastspecfit's data model
//!   `doc/fastspec.rst`): HDUs METADATA, SPECPHOT and FASTSPEC hold the same rows in the
//!   same order. ~40 GB in DR1, so it is read in row chunks, named columns only, keeping
//!   the rows of the pixels ingested; it joins on (TARGETID, SURVEY, PROGRAM).
//!
//! Each [`Product`] lists the columns taken and their catalogue names (the product's
//! prefix + the data model's name, lower-cased). A column a file lacks, a row a file
//! lacks, and a file that is absent all give nulls, never an error.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{new_null_array, ArrayRef, BooleanArray, RecordBatch, UInt32Array};
use arrow_schema::DataType;

use crate::columns::{optional_f64, optional_i64, optional_str};
use crate::{DesiIoError, Result};

/// One column taken from a product.
#[derive(Debug, Clone)]
pub struct JoinColumn {
    /// The HDU holding it (EXTNAME).
    pub hdu: &'static str,
    /// Its name in the data model.
    pub name: &'static str,
    /// The catalogue's type for it (the data model's).
    pub data_type: DataType,
    /// Unit, as the data model gives it.
    pub unit: &'static str,
    /// What it is (the data model's description, shortened).
    pub description: &'static str,
}

/// A DESI product joined onto the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct Product {
    /// File-name prefix (`emline` in `emline-main-dark-27247.fits`), or the VAC's name.
    pub name: &'static str,
    /// Prefix of its catalogue columns.
    pub prefix: &'static str,
    /// What it is, for the schema.
    pub title: &'static str,
    /// The columns taken, in catalogue order.
    pub columns: &'static [JoinColumn],
}

impl Product {
    /// The catalogue name of column `c`: prefix + lower-cased data-model name.
    pub fn column_name(&self, c: &JoinColumn) -> String {
        format!("{}{}", self.prefix, c.name.to_lowercase())
    }

    /// The HDUs the columns come from, in first-use order.
    fn hdus(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = Vec::new();
        for c in self.columns {
            if !v.contains(&c.hdu) {
                v.push(c.hdu);
            }
        }
        v
    }
}

const fn col(hdu: &'static str, name: &'static str, data_type: DataType, unit: &'static str, description: &'static str) -> JoinColumn {
    JoinColumn { hdu, name, data_type, unit, description }
}

const F32: DataType = DataType::Float32;
const F64: DataType = DataType::Float64;
const BOOL: DataType = DataType::Boolean;
const FLUX: &str = "1e-17 erg/s/cm²";
const FLUX_IVAR: &str = "1e+34 s²cm⁴/erg²";

/// The four emline columns of each line, as one flat array.
macro_rules! emline_columns {
    ($(($line:literal, $what:literal)),* $(,)?) => {
        [$(
            col("EMLINEFIT", concat!($line, "_FLUX"), F32, FLUX, concat!("Gaussian-fit flux of ", $what)),
            col("EMLINEFIT", concat!($line, "_FLUX_IVAR"), F32, FLUX_IVAR, concat!("inverse variance of the ", $what, " flux")),
            col("EMLINEFIT", concat!($line, "_SIGMA"), F32, "Å", concat!("fitted line width of ", $what, ", observed frame")),
            col("EMLINEFIT", concat!($line, "_EW"), F32, "Å", concat!("rest-frame equivalent width of ", $what)),
        )*]
    };
}

const EMLINE_COLUMNS: [JoinColumn; 16] =
    emline_columns![("OII", "[OII] 3726,3729"), ("HBETA", "Hβ"), ("OIII", "[OIII] 5007"), ("HALPHA", "Hα")];

/// desispec's emission-line afterburner (`desi_emlinefit_afterburner`), `emline-*.fits`.
pub const EMLINE: Product = Product {
    name: "emline",
    prefix: "rr_",
    title: "desispec emline afterburner (emline-SURVEY-PROGRAM-PIXEL.fits[EMLINEFIT]) at the redrock redshift",
    columns: &EMLINE_COLUMNS,
};

/// The MgII QSO afterburner, `qso_mgii-*.fits`.
pub const QSO_MGII: Product = Product {
    name: "qso_mgii",
    prefix: "mgii_",
    title: "MgII QSO afterburner (qso_mgii-SURVEY-PROGRAM-PIXEL.fits[MGII])",
    columns: &[
        col("MGII", "IS_QSO_MGII", BOOL, "", "true if the object passes the MgII QSO selection"),
        col("MGII", "DELTA_CHI2", F32, "", "χ² difference between the redrock fit and the MgII fit over the MgII window"),
    ],
};

/// The QuasarNET afterburner, `qso_qn-*.fits`.
pub const QSO_QN: Product = Product {
    name: "qso_qn",
    prefix: "qn_",
    title: "QuasarNET afterburner (qso_qn-SURVEY-PROGRAM-PIXEL.fits[QN_RR])",
    columns: &[
        col("QN_RR", "Z_NEW", F64, "", "redshift of redrock rerun with the QN prior and QSO templates only"),
        col("QN_RR", "IS_QSO_QN_NEW_RR", BOOL, "", "QN finds a QSO at another redshift or class than redrock"),
        col("QN_RR", "C_LYA", F32, "", "QuasarNET confidence for the Lyα line (≈ probability of a QSO)"),
    ],
};

/// The given SPECPHOT columns, then flux and inverse variance of each FASTSPEC line.
macro_rules! fastspec_columns {
    ($($specphot:expr),* ; $(($line:literal, $what:literal)),* $(,)?) => {
        [
            $($specphot,)*
            $(
                col("FASTSPEC", concat!($line, "_FLUX"), F32, FLUX, concat!("Gaussian-integrated flux of ", $what)),
                col("FASTSPEC", concat!($line, "_FLUX_IVAR"), F32, FLUX_IVAR, concat!("inverse variance of the ", $what, " flux")),
            )*
        ]
    };
}

const FASTSPEC_COLUMNS: [JoinColumn; 19] = fastspec_columns![
    col("SPECPHOT", "DN4000", F32, "", "narrow 4000-Å break (Balogh et al. 1999), dust-corrected"),
    col("SPECPHOT", "DN4000_IVAR", F32, "", "inverse variance of DN4000"),
    col("SPECPHOT", "VDISP", F32, "km/s", "stellar velocity dispersion"),
    col("SPECPHOT", "VDISP_IVAR", F32, "s²/km²", "inverse variance of VDISP"),
    col(
        "SPECPHOT",
        "LOGMSTAR",
        F32,
        "log10 M☉",
        "stellar mass, Chabrier 2003 IMF, in fastspecfit's cosmology (H0 = 70, Ωm = 0.3; as published, not converted: to Planck 2018 add 2·log10(d_L,Planck18(z)/d_L,fsf(z)))"
    ),
    col("SPECPHOT", "LOGMSTAR_IVAR", F32, "", "inverse variance of LOGMSTAR"),
    col("SPECPHOT", "SFR", F32, "M☉/yr", "instantaneous star-formation rate (fastspecfit's cosmology, as LOGMSTAR)");
    ("OII_3726", "[OII] 3726"),
    ("OII_3729", "[OII] 3729"),
    ("HBETA", "Hβ"),
    ("OIII_5007", "[OIII] 5007"),
    ("HALPHA", "Hα"),
    ("NII_6584", "[NII] 6584"),
];

/// The fastspecfit VAC (`ingest --vac fastspec-iron-main-dark.fits`).
pub const FASTSPEC: Product = Product {
    name: "fastspec",
    prefix: "fsf_",
    title: "fastspecfit VAC (fastspec-*.fits, HDUs METADATA/SPECPHOT/FASTSPEC; `ingest --vac`)",
    columns: &FASTSPEC_COLUMNS,
};

/// The afterburners looked for beside every coadd.
pub const AFTERBURNERS: [&Product; 3] = [&EMLINE, &QSO_MGII, &QSO_QN];

/// Every joined product, in catalogue column order.
pub const PRODUCTS: [&Product; 4] = [&EMLINE, &QSO_MGII, &QSO_QN, &FASTSPEC];

/// The afterburner file of `product` beside `coadd` (`coadd-main-dark-27247.fits[.gz]`
/// → `emline-main-dark-27247.fits`, or `.fits.gz`), when it exists.
pub fn afterburner_path(coadd: &Path, product: &Product) -> Option<PathBuf> {
    let name = coadd.file_name()?.to_str()?;
    let stem = name.strip_prefix("coadd-")?;
    let stem = stem.strip_suffix(".fits.gz").or_else(|| stem.strip_suffix(".fits"))?;
    let dir = coadd.parent()?;
    [".fits", ".fits.gz"].iter().map(|ext| dir.join(format!("{}-{stem}{ext}", product.name))).find(|p| p.is_file())
}

/// A product's rows read for joining: key columns (TARGETID; SURVEY and PROGRAM for a
/// VAC) and the product's columns the file has, under their data-model names.
#[derive(Debug, Clone)]
pub struct JoinTable {
    /// What it is.
    pub product: &'static Product,
    /// The file.
    pub path: PathBuf,
    /// The rows.
    pub table: RecordBatch,
    /// Row of each key: (TARGETID, survey, program); survey/program empty for an
    /// afterburner (one file per survey and program).
    rows: HashMap<(i64, String, String), usize>,
}

impl JoinTable {
    fn new(product: &'static Product, path: &Path, hdu: &str, table: RecordBatch) -> Result<Self> {
        let ids = optional_i64(&table, "TARGETID").ok_or_else(|| DesiIoError::MissingColumn {
            path: path.into(),
            hdu: hdu.into(),
            column: "TARGETID".into(),
        })?;
        let trimmed = |name| optional_str(&table, name).map(|v| v.into_iter().map(|s| s.trim().to_string()).collect::<Vec<_>>());
        let (surveys, programs) = (trimmed("SURVEY"), trimmed("PROGRAM"));
        let mut rows = HashMap::with_capacity(ids.len());
        for (i, t) in ids.into_iter().enumerate() {
            let key = match (&surveys, &programs) {
                (Some(s), Some(p)) => (t, s[i].clone(), p[i].clone()),
                _ => (t, String::new(), String::new()),
            };
            // The first row of a key wins (a file should have one).
            rows.entry(key).or_insert(i);
        }
        Ok(JoinTable { product, path: path.into(), table, rows })
    }

    /// The row of (`targetid`, `survey`, `program`), if any.
    pub fn row(&self, targetid: i64, survey: &str, program: &str) -> Option<usize> {
        self.rows
            .get(&(targetid, survey.to_string(), program.to_string()))
            .or_else(|| self.rows.get(&(targetid, String::new(), String::new())))
            .copied()
    }

    /// One array per product column, in product order, for `targetids` of one
    /// (survey, program): the row's value, or null where the file has no row or no column.
    pub fn columns_for(&self, targetids: &[i64], survey: &str, program: &str) -> Result<Vec<ArrayRef>> {
        let take = UInt32Array::from(targetids.iter().map(|&t| self.row(t, survey, program).map(|r| r as u32)).collect::<Vec<_>>());
        self.product
            .columns
            .iter()
            .map(|c| match self.table.column_by_name(c.name) {
                None => Ok(new_null_array(&c.data_type, targetids.len())),
                Some(a) => {
                    let arrow = |source| DesiIoError::Arrow { path: self.path.clone(), context: "joining a product's column", source };
                    let a = arrow_cast::cast(a, &c.data_type).map_err(arrow)?;
                    arrow_select::take::take(&a, &take, None).map_err(arrow)
                }
            })
            .collect()
    }
}

/// Reads an afterburner file (`emline-*`, `qso_mgii-*`, `qso_qn-*`): TARGETID and the
/// product's columns (a column the file lacks is null in the catalogue).
pub fn read_afterburner(path: &Path, product: &'static Product) -> Result<JoinTable> {
    let hdu = product.hdus()[0];
    let mut f = ard_fits::FitsFile::open(path)?;
    f.move_to(hdu)?;
    let names: Vec<&str> = std::iter::once("TARGETID").chain(product.columns.iter().map(|c| c.name)).collect();
    let rows = f.table_rows()?;
    let table = f.read_table_rows(Some(&names), 0..rows)?;
    JoinTable::new(product, path, hdu, table)
}

/// Rows read at a time from a VAC.
pub const VAC_CHUNK_ROWS: u64 = 262_144;

const VAC_KEYS: [&str; 4] = ["TARGETID", "SURVEY", "PROGRAM", "HEALPIX"];

/// Reads the fastspecfit VAC at `path` for the rows of `pixels` (all rows when `None`):
/// METADATA's keys and the product's columns of SPECPHOT and FASTSPEC, `chunk_rows` rows
/// at a time from each HDU (the HDUs hold the same rows in the same order; a different
/// row count is an error). Rows are kept by METADATA HEALPIX, else by RA/DEC.
pub fn read_vac_for_pixels(path: &Path, pixels: Option<&BTreeSet<u64>>, chunk_rows: u64) -> Result<JoinTable> {
    let product = &FASTSPEC;
    let chunk_rows = chunk_rows.max(1);
    let mut f = ard_fits::FitsFile::open(path)?;
    f.move_to("METADATA")?;
    let total = f.table_rows()?;
    let hdus = product.hdus();
    for hdu in &hdus {
        f.move_to(hdu)?;
        let n = f.table_rows()?;
        if n != total {
            return Err(DesiIoError::Shape {
                path: path.into(),
                hdu: (*hdu).into(),
                expected: format!("{total} rows, as METADATA"),
                found: vec![n as usize],
            });
        }
    }
    let arrow = |context, source| DesiIoError::Arrow { path: path.into(), context, source };
    let mut kept: Vec<RecordBatch> = Vec::new();
    let mut start = 0;
    loop {
        let end = (start + chunk_rows).min(total);
        f.move_to("METADATA")?;
        let meta = f.read_table_rows(Some(&[&VAC_KEYS[..], &["RA", "DEC"]].concat()), start..end)?;
        let keep = pixels.map(|set| BooleanArray::from(rows_in(&meta, set)));
        let mut fields: Vec<_> = Vec::new();
        let mut cols: Vec<ArrayRef> = Vec::new();
        let mut add = |batch: &RecordBatch, names: &[&str]| -> Result<()> {
            for name in names {
                if let (Some(c), Ok(field)) = (batch.column_by_name(name), batch.schema().field_with_name(name)) {
                    if fields.iter().any(|f: &Arc<arrow_schema::Field>| f.name() == name) {
                        continue;
                    }
                    let c = match &keep {
                        Some(k) => {
                            arrow_select::filter::filter(c, k).map_err(|e| arrow("selecting the VAC rows of the pixels ingested", e))?
                        }
                        None => c.clone(),
                    };
                    fields.push(Arc::new(field.clone()));
                    cols.push(c);
                }
            }
            Ok(())
        };
        add(&meta, &VAC_KEYS[..3])?;
        for hdu in &hdus {
            f.move_to(hdu)?;
            let names: Vec<&str> = product.columns.iter().filter(|c| c.hdu == *hdu).map(|c| c.name).collect();
            let part = f.read_table_rows(Some(&names), start..end)?;
            add(&part, &names)?;
        }
        let batch = RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), cols)
            .map_err(|e| arrow("assembling the VAC's columns", e))?;
        if batch.num_rows() > 0 || kept.is_empty() {
            kept.push(batch);
        }
        start = end;
        if start >= total {
            break;
        }
    }
    let table = arrow_select::concat::concat_batches(&kept[0].schema(), &kept).map_err(|e| arrow("joining the VAC's row chunks", e))?;
    JoinTable::new(product, path, "METADATA", table)
}

/// Which rows of a METADATA chunk lie in `pixels` (by HEALPIX, else RA/DEC).
fn rows_in(meta: &RecordBatch, pixels: &BTreeSet<u64>) -> Vec<bool> {
    if let Some(hpx) = optional_i64(meta, "HEALPIX") {
        return hpx.iter().map(|&p| p >= 0 && pixels.contains(&(p as u64))).collect();
    }
    match (optional_f64(meta, "RA"), optional_f64(meta, "DEC")) {
        (Some(ra), Some(dec)) => ra
            .iter()
            .zip(&dec)
            .map(|(&r, &d)| r.is_finite() && d.is_finite() && pixels.contains(&(crate::layout::nside64_pixel(r, d) as u64)))
            .collect(),
        _ => vec![true; meta.num_rows()],
    }
}

/// Whether `path` is a fastspecfit VAC (has METADATA and FASTSPEC HDUs).
pub fn is_fastspec_vac(path: &Path) -> Result<bool> {
    let mut f = ard_fits::FitsFile::open(path)?;
    Ok(f.has_hdu("METADATA")? && f.has_hdu("FASTSPEC")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_names_are_prefixed_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for p in PRODUCTS {
            for c in p.columns {
                assert!(seen.insert(p.column_name(c)), "{} twice", p.column_name(c));
            }
        }
        assert_eq!(EMLINE.column_name(&EMLINE.columns[0]), "rr_oii_flux");
        assert_eq!(FASTSPEC.column_name(&FASTSPEC.columns[4]), "fsf_logmstar");
        assert_eq!(seen.len(), 16 + 2 + 3 + 19);
    }

    #[test]
    fn afterburner_names_follow_the_coadd() {
        let dir = std::env::temp_dir().join(format!("desi-io-ab-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let coadd = dir.join("coadd-main-dark-27247.fits.gz");
        assert_eq!(afterburner_path(&coadd, &EMLINE), None);
        std::fs::write(dir.join("emline-main-dark-27247.fits"), b"x").unwrap();
        assert_eq!(afterburner_path(&coadd, &EMLINE), Some(dir.join("emline-main-dark-27247.fits")));
        assert_eq!(afterburner_path(&coadd, &QSO_QN), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
