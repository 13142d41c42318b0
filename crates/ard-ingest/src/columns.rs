//! The catalogue's own columns (identity, position, redshift, FIBERMAP photometry and
//! targeting, per-camera S/N), built from a [`SpectrumBatch`] — the spine every layer's
//! stage adds its columns to. The specs here generate `docs/schema.md`.

use std::sync::Arc;

use ard_core::columns::nullable_i64;
use ard_core::{names, ColumnSpec, SpectrumBatch};
use arrow_array::builder::{Float32Builder, Float64Builder, Int16Builder, PrimitiveBuilder, StringBuilder};
use arrow_array::types::{ArrowPrimitiveType, Int16Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, BooleanArray, Int32Array, RecordBatch};
use arrow_schema::{DataType, Schema, SchemaRef};
use desi_io::columns::{optional_f64, optional_i64, optional_str};

use ard_store::StoreError;

use crate::IngestError;

/// Code version of the core columns (see `pipeline::LAYERS`): bump it with any change
/// to how they are computed.
pub const VERSION: u32 = 6;

/// Targeting-bit columns carried over from FIBERMAP (null where a survey lacks them).
/// The first four are the main survey's ([`MAIN_TARGET_COLUMNS`]).
pub const TARGET_COLUMNS: [&str; 17] = [
    "DESI_TARGET",
    "BGS_TARGET",
    "MWS_TARGET",
    "SCND_TARGET",
    "SV1_DESI_TARGET",
    "SV1_BGS_TARGET",
    "SV1_MWS_TARGET",
    "SV1_SCND_TARGET",
    "SV2_DESI_TARGET",
    "SV2_BGS_TARGET",
    "SV2_MWS_TARGET",
    "SV2_SCND_TARGET",
    "SV3_DESI_TARGET",
    "SV3_BGS_TARGET",
    "SV3_MWS_TARGET",
    "SV3_SCND_TARGET",
    "CMX_TARGET",
];

/// The main survey's targeting columns: null on rows of the surveys that target with
/// their own masks ([`OWN_MASK_SURVEYS`]), where desispec writes 0 into them.
pub const MAIN_TARGET_COLUMNS: [&str; 4] = ["DESI_TARGET", "BGS_TARGET", "MWS_TARGET", "SCND_TARGET"];

/// Surveys whose targeting bits live in their own `SVn_*` / `CMX_TARGET` columns. Main
/// and special (tertiary, ...) programs use the main masks.
pub const OWN_MASK_SURVEYS: [&str; 4] = ["cmx", "sv1", "sv2", "sv3"];

/// The template S/N² columns of SCORES (desispec `tsnr.py`), one per tracer.
pub const TSNR2_TRACERS: [&str; 5] = ["BGS", "ELG", "LRG", "QSO", "LYA"];

const PHOT_BANDS: [&str; 5] = ["G", "R", "Z", "W1", "W2"];

/// Camera wavelength ranges used for the per-camera S/N summaries (DESI b, r, z).
pub const CAMERA_RANGES: [(&str, f64, f64); 3] = [("b", 3600.0, 5800.0), ("r", 5760.0, 7620.0), ("z", 7520.0, 9824.0)];

/// The catalogue's core column specs, in order (without `_healpix_29`, which the store
/// prepends).
pub fn core_specs() -> Vec<ColumnSpec> {
    let mut v = vec![
        ColumnSpec::new("targetid", DataType::Int64, "", "DESI TARGETID (FIBERMAP)"),
        ColumnSpec::new("survey", DataType::Utf8, "", "survey (cmx, sv1, sv2, sv3, main, special): coadd header or user"),
        ColumnSpec::new("program", DataType::Utf8, "", "program (dark, bright, backup, other, ...): coadd header or user"),
        ColumnSpec::new("target_ra", DataType::Float64, "deg", "TARGET_RA (FIBERMAP), ICRS"),
        ColumnSpec::new("target_dec", DataType::Float64, "deg", "TARGET_DEC (FIBERMAP), ICRS"),
        ColumnSpec::new("healpix", DataType::Int32, "", "nside-64 NESTED HEALPix pixel of (target_ra, target_dec): the partition"),
        ColumnSpec::new("objtype", DataType::Utf8, "", "fibre's object type (FIBERMAP OBJTYPE): TGT science target, SKY, BAD (unassigned/stuck); the layers fit TGT only"),
        ColumnSpec::new(
            "coadd_fiberstatus",
            DataType::Int32,
            "",
            "OR of the coadded exposures' FIBERSTATUS bits (FIBERMAP COADD_FIBERSTATUS, desispec maskbits.fibermask); the layers fit 0 only",
        ),
        ColumnSpec::new("fa_type", DataType::Int16, "", "fiberassign target type bits (FIBERMAP FA_TYPE); null where the FIBERMAP has none"),
        ColumnSpec::new("z", DataType::Float64, "", "redshift (redrock REDSHIFTS Z or zcatalog)"),
        ColumnSpec::new(
            "z_source",
            DataType::Utf8,
            "",
            "where z came from: FILE[HDU] COLUMN, e.g. redrock-main-dark-27247.fits[REDSHIFTS] Z, zall-pix-iron.fits[ZCATALOG] Z, zpix-main-dark.fits[ZCATALOG] Z_BEST; null without a redshift file",
        ),
        ColumnSpec::new("zerr", DataType::Float32, "", "redshift error (ZERR)"),
        ColumnSpec::new("zwarn", DataType::Int64, "", "redrock warning bits (ZWARN); 0 = no problem"),
        ColumnSpec::new("spectype", DataType::Utf8, "", "redrock spectral type (GALAXY, QSO, STAR)"),
        ColumnSpec::new("subtype", DataType::Utf8, "", "redrock subtype"),
        ColumnSpec::new("deltachi2", DataType::Float32, "", "χ² difference to the next-best redrock fit (DELTACHI2)"),
        ColumnSpec::new(
            "z_conf",
            DataType::Int16,
            "",
            "DESI's redshift confidence (zcatalog v2 Z_CONF): 0 none, 1 low (ZWARN = 0), 3 high (passes the LSS quality cuts); null outside a v2 zcatalog",
        ),
    ];
    for name in desi_io::V2_EXTRA_COLUMNS {
        let t = name.trim_start_matches("GOOD_Z_");
        v.push(ColumnSpec::new(
            &name.to_lowercase(),
            DataType::Boolean,
            "",
            &format!(
                "a {t} target whose redshift passes DESI's LSS quality cuts (zcatalog v2 -extra GOOD_Z_{t}); null without a v2 -extra file"
            ),
        ));
    }
    for b in PHOT_BANDS {
        v.push(ColumnSpec::new(
            &format!("flux_{}", b.to_lowercase()),
            DataType::Float32,
            "nanomaggy",
            &format!("total flux, Legacy Surveys {b} (FIBERMAP FLUX_{b}); {}", ard_core::dust::NOT_CORRECTED),
        ));
    }
    for b in PHOT_BANDS {
        v.push(ColumnSpec::new(
            &format!("flux_ivar_{}", b.to_lowercase()),
            DataType::Float32,
            "nanomaggy^-2",
            &format!("inverse variance of flux_{} (FIBERMAP)", b.to_lowercase()),
        ));
    }
    for b in ["G", "R", "Z"] {
        v.push(ColumnSpec::new(
            &format!("fiberflux_{}", b.to_lowercase()),
            DataType::Float32,
            "nanomaggy",
            &format!("flux in a 1.5\" fibre, {b} (FIBERMAP FIBERFLUX_{b})"),
        ));
    }
    v.push(ColumnSpec::new("ebv", DataType::Float32, "mag", "Galactic E(B−V) (FIBERMAP EBV, SFD98)"));
    v.push(ColumnSpec::new("morphtype", DataType::Utf8, "", "Tractor morphological type (FIBERMAP MORPHTYPE)"));
    v.push(ColumnSpec::new("maskbits", DataType::Int32, "", "Legacy Surveys imaging mask bits at the target (FIBERMAP MASKBITS)"));
    v.push(ColumnSpec::new(
        "photsys",
        DataType::Utf8,
        "",
        "imaging footprint (FIBERMAP PHOTSYS): N (BASS/MzLS), S (DECaLS/DES), empty for none",
    ));
    for t in TARGET_COLUMNS {
        let doc = if MAIN_TARGET_COLUMNS.contains(&t) {
            format!(
                "main-survey targeting bits (FIBERMAP {t}); null on {} rows, whose bits are in their own columns (desispec writes 0 there; null is desi-ard's convention), and where the FIBERMAP has none",
                OWN_MASK_SURVEYS.join("/")
            )
        } else {
            format!("targeting bits (FIBERMAP {t}); null where the survey has none")
        };
        v.push(ColumnSpec::new(&t.to_lowercase(), DataType::Int64, "", &doc));
    }
    v.push(ColumnSpec::new("coadd_numexp", DataType::Int16, "", "number of exposures coadded (FIBERMAP COADD_NUMEXP)"));
    v.push(ColumnSpec::new("coadd_exptime", DataType::Float32, "s", "total exposure time coadded (FIBERMAP COADD_EXPTIME)"));
    for (c, lo, hi) in CAMERA_RANGES {
        v.push(ColumnSpec::new(
            &format!("snr_{c}"),
            DataType::Float32,
            "",
            &format!("median flux·√ivar per 0.8 Å pixel over {lo:.0}–{hi:.0} Å of the camera-merged spectrum (pixels with ivar > 0)"),
        ));
    }
    for t in TSNR2_TRACERS {
        v.push(ColumnSpec::new(
            &format!("tsnr2_{}", t.to_lowercase()),
            DataType::Float32,
            "",
            &format!("template S/N² for the {t} tracer (SCORES TSNR2_{t}); null when the coadd has no SCORES"),
        ));
    }
    v.push(ColumnSpec::new("zcat_nspec", DataType::Int16, "", "number of coadds of this TARGETID in the ARD (across surveys/programs)"));
    v.push(ColumnSpec::new(
        "zcat_primary",
        DataType::Boolean,
        "",
        "DESI's primary coadd of the TARGETID (desispec zcatalog.find_primary_spectra): ZWARN = 0 first, then highest tsnr2_lrg",
    ));
    v.extend(crate::joins::column_specs());
    v
}

/// Arrow schema of the core columns.
pub fn core_schema() -> SchemaRef {
    Arc::new(Schema::new(core_specs().iter().map(|c| c.field()).collect::<Vec<_>>()))
}

fn f32_col(values: Option<Vec<f64>>, n: usize) -> ArrayRef {
    let mut b = Float32Builder::with_capacity(n);
    match values {
        Some(v) => v.iter().for_each(|&x| b.append_value(x as f32)),
        None => (0..n).for_each(|_| b.append_null()),
    }
    Arc::new(b.finish())
}

fn str_col(values: Option<Vec<String>>, n: usize) -> ArrayRef {
    let mut b = StringBuilder::with_capacity(n, n * 8);
    match values {
        Some(v) => v.iter().for_each(|x| b.append_value(x)),
        None => (0..n).for_each(|_| b.append_null()),
    }
    Arc::new(b.finish())
}

/// An integer column of `n` rows from FIBERMAP values (null where the file has TNULL),
/// all null when absent.
fn int_col<T: ArrowPrimitiveType>(values: Option<Vec<Option<i64>>>, n: usize, convert: fn(i64) -> T::Native) -> ArrayRef {
    let mut b = PrimitiveBuilder::<T>::with_capacity(n);
    match values {
        Some(v) => v.into_iter().for_each(|x| b.append_option(x.map(convert))),
        None => b.append_nulls(n),
    }
    Arc::new(b.finish())
}

fn median_snr(batch: &SpectrumBatch, i: usize, lo: f64, hi: f64) -> Option<f64> {
    let (f, iv) = (batch.flux_of(i), batch.ivar_of(i));
    let mut s: Vec<f64> = batch
        .wavelength
        .iter()
        .enumerate()
        .filter(|(j, &w)| w >= lo && w <= hi && iv[*j] > 0.0)
        .map(|(j, _)| f[j] as f64 * (iv[j] as f64).sqrt())
        .collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(f64::total_cmp);
    Some(s[s.len() / 2])
}

/// Core columns of one coadd's objects, with the afterburner and VAC columns of `joined`
/// ([`crate::joins`]); `zcat_nspec`/`zcat_primary` are filled per pixel later by
/// [`mark_primary`] (here 1/true).
pub fn core_columns(
    batch: &SpectrumBatch,
    scores: Option<&RecordBatch>,
    joined: &[Arc<desi_io::joins::JoinTable>],
) -> Result<RecordBatch, IngestError> {
    let n = batch.len();
    let fm = &batch.fibermap;
    let missing =
        |column| IngestError::MissingColumn { table: "FIBERMAP", column, survey: batch.survey.clone(), program: batch.program.clone() };
    let ra = optional_f64(fm, "TARGET_RA").ok_or_else(|| missing("TARGET_RA"))?;
    let dec = optional_f64(fm, "TARGET_DEC").ok_or_else(|| missing("TARGET_DEC"))?;
    let z = batch.redshifts.as_ref();
    let zf = |name: &str| z.and_then(|t| optional_f64(t, name));
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(arrow_array::Int64Array::from(batch.targetid.clone())),
        Arc::new(arrow_array::StringArray::from_iter_values(std::iter::repeat_n(batch.survey.as_str(), n))),
        Arc::new(arrow_array::StringArray::from_iter_values(std::iter::repeat_n(batch.program.as_str(), n))),
        Arc::new(arrow_array::Float64Array::from(ra.clone())),
        Arc::new(arrow_array::Float64Array::from(dec.clone())),
        Arc::new(Int32Array::from_iter_values(ra.iter().zip(&dec).map(|(&r, &d)| desi_io::layout::nside64_pixel(r, d) as i32))),
        str_col(optional_str(fm, "OBJTYPE").map(|v| v.into_iter().map(|s| s.trim().to_string()).collect()), n),
        int_col::<Int32Type>(nullable_i64(fm, "COADD_FIBERSTATUS"), n, |x| x as i32),
        int_col::<Int16Type>(nullable_i64(fm, "FA_TYPE"), n, |x| x as i16),
    ];
    let mut zb = Float64Builder::with_capacity(n);
    match zf("Z") {
        Some(v) => v.iter().for_each(|&x| zb.append_value(x)),
        None => (0..n).for_each(|_| zb.append_null()),
    }
    cols.push(Arc::new(zb.finish()));
    let source = z.and_then(|t| t.schema().metadata().get(desi_io::Z_SOURCE_KEY).cloned());
    cols.push(str_col(source.map(|s| vec![s; n]), n));
    cols.push(f32_col(zf("ZERR"), n));
    cols.push(int_col::<Int64Type>(z.and_then(|t| nullable_i64(t, "ZWARN")), n, |x| x));
    cols.push(str_col(z.and_then(|t| optional_str(t, "SPECTYPE")), n));
    cols.push(str_col(z.and_then(|t| optional_str(t, "SUBTYPE")), n));
    cols.push(f32_col(zf("DELTACHI2"), n));
    cols.push(int_col::<Int16Type>(z.and_then(|t| nullable_i64(t, "Z_CONF")), n, |x| x as i16));
    for name in desi_io::V2_EXTRA_COLUMNS {
        let flags = z.and_then(|t| nullable_i64(t, name));
        cols.push(Arc::new(match flags {
            Some(v) => v.into_iter().map(|f| f.map(|f| f != 0)).collect::<BooleanArray>(),
            None => BooleanArray::new_null(n),
        }));
    }
    for b in PHOT_BANDS {
        cols.push(f32_col(optional_f64(fm, &format!("FLUX_{b}")), n));
    }
    for b in PHOT_BANDS {
        cols.push(f32_col(optional_f64(fm, &format!("FLUX_IVAR_{b}")), n));
    }
    for b in ["G", "R", "Z"] {
        cols.push(f32_col(optional_f64(fm, &format!("FIBERFLUX_{b}")), n));
    }
    cols.push(f32_col(optional_f64(fm, "EBV"), n));
    cols.push(str_col(optional_str(fm, "MORPHTYPE"), n));
    cols.push(int_col::<Int32Type>(nullable_i64(fm, "MASKBITS"), n, |x| x as i32));
    cols.push(str_col(optional_str(fm, "PHOTSYS").map(|v| v.into_iter().map(|s| s.trim().to_string()).collect()), n));
    let own_masks = OWN_MASK_SURVEYS.contains(&batch.survey.as_str());
    for t in TARGET_COLUMNS {
        let values = if own_masks && MAIN_TARGET_COLUMNS.contains(&t) { None } else { nullable_i64(fm, t) };
        cols.push(int_col::<Int64Type>(values, n, |x| x));
    }
    let mut ne = Int16Builder::with_capacity(n);
    match optional_i64(fm, "COADD_NUMEXP") {
        Some(v) => v.iter().for_each(|&x| ne.append_value(x as i16)),
        None => (0..n).for_each(|_| ne.append_null()),
    }
    cols.push(Arc::new(ne.finish()));
    cols.push(f32_col(optional_f64(fm, "COADD_EXPTIME"), n));
    for (_, lo, hi) in CAMERA_RANGES {
        let mut b = Float32Builder::with_capacity(n);
        for i in 0..n {
            b.append_option(median_snr(batch, i, lo, hi).map(|x| x as f32));
        }
        cols.push(Arc::new(b.finish()));
    }
    // TSNR2_* from SCORES, by TARGETID (SCORES rows follow FIBERMAP's, but a joined
    // table need not).
    let score_rows: Option<std::collections::HashMap<i64, usize>> =
        scores.and_then(|s| optional_i64(s, "TARGETID")).map(|ids| ids.into_iter().enumerate().map(|(i, t)| (t, i)).collect());
    for t in TSNR2_TRACERS {
        let mut tb = Float32Builder::with_capacity(n);
        match (scores.and_then(|s| optional_f64(s, &format!("TSNR2_{t}"))), &score_rows) {
            (Some(v), Some(rows)) => batch.targetid.iter().for_each(|id| tb.append_option(rows.get(id).map(|&r| v[r] as f32))),
            _ => (0..n).for_each(|_| tb.append_null()),
        }
        cols.push(Arc::new(tb.finish()));
    }
    cols.push(Arc::new(arrow_array::Int16Array::from(vec![1i16; n])));
    cols.push(Arc::new(BooleanArray::from(vec![true; n])));
    cols.extend(crate::joins::columns(joined, &batch.targetid, &batch.survey, &batch.program)?);
    Ok(RecordBatch::try_new(core_schema(), cols).map_err(|e| StoreError::arrow("the core columns", e))?)
}

/// Fills `zcat_nspec` and `zcat_primary` over all rows of a pixel (every coadd of a
/// TARGETID lands in the pixel of its TARGET_RA/DEC, so this is per ARD), as desispec
/// `zcatalog.find_primary_spectra` (desispec 0.70.0, default sort column TSNR2_LRG)
/// does: per TARGETID, rows with ZWARN = 0 come first; within them, ascending
/// 1/(TSNR2_LRG + 1e-99·[TSNR2_LRG = 0]) — the highest positive TSNR2_LRG, and, as in
/// desispec, a negative one before any positive one. A null ZWARN (no redshift) counts
/// as ZWARN ≠ 0. Where desispec leaves the order open (equal keys — its sort is not
/// stable — or no TSNR2_LRG, which desispec requires), the higher mean of
/// `snr_b/r/z`, then the first (survey, program) alphabetically, decide.
///
/// `leaf` is where the rows go (named in the error should a column be missing).
pub fn mark_primary(batch: &RecordBatch, leaf: &std::path::Path) -> Result<RecordBatch, IngestError> {
    let n = batch.num_rows();
    let cols = ard_store::catalog::Columns::new(leaf, batch);
    let ids = cols.i64(names::TARGETID)?;
    let zwarn = cols.i64(names::ZWARN)?;
    let tsnr = cols.f32("tsnr2_lrg")?;
    let snr_columns = ["snr_b", "snr_r", "snr_z"]
        .into_iter()
        .filter(|c| batch.column_by_name(c).is_some())
        .map(|c| cols.f32(c))
        .collect::<Result<Vec<_>, _>>()?;
    let snr: Vec<f64> = (0..n)
        .map(|i| {
            let vals: Vec<f64> = snr_columns.iter().filter(|a| a.is_valid(i)).map(|a| a.value(i) as f64).collect();
            if vals.is_empty() {
                f64::NEG_INFINITY
            } else {
                vals.iter().sum::<f64>() / vals.len() as f64
            }
        })
        .collect();
    let surveys = cols.str(names::SURVEY)?;
    let programs = cols.str(names::PROGRAM)?;
    // desispec's sort key, (ZWARN_NOT_ZERO, INV_SORT_COLUMN); NaN (and null) sort last as in numpy.
    let zwarn_not_zero = |i: usize| !(zwarn.is_valid(i) && zwarn.value(i) == 0);
    let inverse = |i: usize| {
        let x = if tsnr.is_valid(i) { tsnr.value(i) as f64 } else { f64::NAN };
        1.0 / (x + if x == 0.0 { 1e-99 } else { 0.0 })
    };
    let nan_last = |a: f64, b: f64| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        (false, false) => a.total_cmp(&b),
    };
    let mut groups: std::collections::BTreeMap<i64, Vec<usize>> = std::collections::BTreeMap::new();
    for i in 0..n {
        groups.entry(ids.value(i)).or_default().push(i);
    }
    let mut nspec = vec![1i16; n];
    let mut primary = vec![false; n];
    for rows in groups.values() {
        let best = rows
            .iter()
            .copied()
            .min_by(|&a, &b| {
                zwarn_not_zero(a)
                    .cmp(&zwarn_not_zero(b))
                    .then(nan_last(inverse(a), inverse(b)))
                    .then(snr[b].total_cmp(&snr[a]))
                    .then_with(|| (surveys.value(a), programs.value(a)).cmp(&(surveys.value(b), programs.value(b))))
            })
            .unwrap_or(rows[0]);
        for &r in rows {
            nspec[r] = rows.len() as i16;
            primary[r] = r == best;
        }
    }
    let schema = batch.schema();
    let mut cols = batch.columns().to_vec();
    let primary_columns = |e| StoreError::arrow("zcat_nspec/zcat_primary", e);
    cols[schema.index_of("zcat_nspec").map_err(primary_columns)?] = Arc::new(arrow_array::Int16Array::from(nspec));
    cols[schema.index_of("zcat_primary").map_err(primary_columns)?] = Arc::new(BooleanArray::from(primary));
    Ok(RecordBatch::try_new(schema, cols).map_err(primary_columns)?)
}

/// Columns of the exposures table (EXP_FIBERMAP), fixed across productions; absent
/// ones are null.
pub const EXPOSURE_COLUMNS: [(&str, DataType, &str); 12] = [
    ("NIGHT", DataType::Int32, ""),
    ("EXPID", DataType::Int32, ""),
    ("MJD", DataType::Float64, "d"),
    ("TILEID", DataType::Int32, ""),
    ("EXPTIME", DataType::Float32, "s"),
    ("PETAL_LOC", DataType::Int16, ""),
    ("FIBER", DataType::Int32, ""),
    ("FIBERSTATUS", DataType::Int32, ""),
    ("FIBER_RA", DataType::Float64, "deg"),
    ("FIBER_DEC", DataType::Float64, "deg"),
    ("PSF_TO_FIBER_SPECFLUX", DataType::Float32, ""),
    ("PRIORITY", DataType::Int32, ""),
];

/// Exposure rows of one coadd: targetid, survey, program, target_ra/dec (joined
/// from FIBERMAP), then [`EXPOSURE_COLUMNS`] lower-cased.
pub fn exposure_rows(batch: &SpectrumBatch, exp: &RecordBatch) -> Result<RecordBatch, IngestError> {
    use arrow_schema::Field;
    let n = exp.num_rows();
    let ids = optional_i64(exp, "TARGETID").ok_or_else(|| IngestError::MissingColumn {
        table: "EXP_FIBERMAP",
        column: "TARGETID",
        survey: batch.survey.clone(),
        program: batch.program.clone(),
    })?;
    let ra = optional_f64(&batch.fibermap, "TARGET_RA").unwrap_or_default();
    let dec = optional_f64(&batch.fibermap, "TARGET_DEC").unwrap_or_default();
    let pos: std::collections::HashMap<i64, (f64, f64)> =
        batch.targetid.iter().zip(ra.iter().zip(&dec)).map(|(&t, (&r, &d))| (t, (r, d))).collect();
    let mut fields = vec![
        Field::new("targetid", DataType::Int64, false),
        Field::new("survey", DataType::Utf8, false),
        Field::new("program", DataType::Utf8, false),
        Field::new("target_ra", DataType::Float64, false),
        Field::new("target_dec", DataType::Float64, false),
    ];
    let (mut r, mut d) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for t in &ids {
        let (a, b) = pos.get(t).copied().ok_or_else(|| IngestError::UnknownExposureTarget {
            targetid: *t,
            survey: batch.survey.clone(),
            program: batch.program.clone(),
        })?;
        r.push(a);
        d.push(b);
    }
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(arrow_array::Int64Array::from(ids)),
        Arc::new(arrow_array::StringArray::from_iter_values(std::iter::repeat_n(batch.survey.as_str(), n))),
        Arc::new(arrow_array::StringArray::from_iter_values(std::iter::repeat_n(batch.program.as_str(), n))),
        Arc::new(arrow_array::Float64Array::from(r)),
        Arc::new(arrow_array::Float64Array::from(d)),
    ];
    for (name, dt, unit) in EXPOSURE_COLUMNS {
        let mut f = Field::new(name.to_lowercase(), dt.clone(), true);
        if !unit.is_empty() {
            f = f.with_metadata([("unit".to_string(), unit.to_string())].into());
        }
        fields.push(f);
        let arr: ArrayRef = match exp.column_by_name(name) {
            Some(c) => arrow_cast::cast(c, &dt).map_err(|e| StoreError::arrow(format!("EXP_FIBERMAP {name}"), e))?,
            None => arrow_array::new_null_array(&dt, n),
        };
        cols.push(arr);
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(|e| StoreError::arrow("the exposure rows", e))?)
}
