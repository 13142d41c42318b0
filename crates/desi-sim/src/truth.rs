//! The truth table (`truth/truth.parquet`): one row per simulated target with every
//! quantity a later layer is tested against.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float32Array, Float64Array, Int64Array, Int8Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::galaxy::Population;
use crate::nongalaxy::ObjectKind;
use crate::sample::{line_names, Truth};
use crate::SimError;

fn f64s(t: &[Truth], f: impl Fn(&Truth) -> f64) -> ArrayRef {
    Arc::new(Float64Array::from_iter_values(t.iter().map(f)))
}
fn f32s(t: &[Truth], f: impl Fn(&Truth) -> f64) -> ArrayRef {
    Arc::new(Float32Array::from_iter_values(t.iter().map(|x| f(x) as f32)))
}

/// Column names and units of the truth table, in order.
pub const COLUMNS: &[(&str, &str)] = &[
    ("targetid", ""),
    ("sim_class", "BGS, LRG, ELG or GREENPEA; STAR or QSO (independent mock only: galaxy columns NaN)"),
    ("is_green_pea", ""),
    ("programs", "programs the target was observed in"),
    ("healpix", "nside-64 nested"),
    ("target_ra", "deg"),
    ("target_dec", "deg"),
    ("z", "cosmological redshift"),
    ("x_cmpc", "Mpc"),
    ("y_cmpc", "Mpc"),
    ("z_cmpc", "Mpc"),
    ("web_class", "0 void, 1 sheet, 2 filament, 3 knot; -1 outside the web volume (stars, QSOs, independent-mock LRGs and ELGs)"),
    ("dist_filament", "Mpc, to the nearest true filament axis (NaN outside the web volume)"),
    ("logm_total", "log10 Msun, stars + remnants"),
    ("logm_fiber", "log10 Msun in the 1.5 arcsec fibre"),
    ("fiber_fraction", ""),
    ("logsfr_100myr", "log10 Msun/yr"),
    ("library", "population library of the galaxy (emiles, bc03, mastar)"),
    ("imf", "IMF of that library"),
    ("sfh_kind", "delayed_tau_burst or nonparametric_continuity"),
    ("dust_law", "calzetti2000 or charlot_fall2000"),
    ("line_class", "star_forming, seyfert2 or liner"),
    ("av", "mag, V-band attenuation of the stars outside birth clouds (Calzetti 2000 or Charlot & Fall 2000 ISM)"),
    ("av_lines", "mag, V-band attenuation of the emission lines"),
    ("v_gas", "km/s, gas velocity relative to the stars"),
    ("sigma_gas", "km/s, gas velocity dispersion"),
    ("fiber_fraction_gas", "fibre fraction of the line emission"),
    ("age_mw", "Gyr, surviving-mass weighted"),
    ("sigma_star", "km/s, intrinsic stellar LOSVD (E-MILES width counted in it)"),
    ("metallicity", "[M/H]"),
    ("tau", "Gyr (delayed tau; NaN for non-parametric histories)"),
    ("sfh_age", "Gyr since formation began"),
    ("burst_fraction", ""),
    ("dn4000", "Balogh et al. 1999, noiseless rest-frame stellar model"),
    ("hdelta_a", "Angstrom, Worthey & Ottaviani 1997, same model"),
    ("flux_g", "nanomaggy, noiseless total"),
    ("flux_r", "nanomaggy"),
    ("flux_z", "nanomaggy"),
    ("flux_w1", "nanomaggy"),
    ("flux_w2", "nanomaggy"),
];

/// `sim_class`: the galaxy population, or STAR / QSO.
fn sim_class(t: &Truth) -> &'static str {
    match t.target.kind {
        ObjectKind::Galaxy => t.target.params.population.name(),
        ObjectKind::Star(_) => "STAR",
        ObjectKind::Qso(_) => "QSO",
    }
}

/// A galaxy parameter, NaN for stars and QSOs (whose `params` nothing uses).
fn galaxy_only(t: &Truth, v: f64) -> f64 {
    if t.target.kind.is_galaxy() {
        v
    } else {
        f64::NAN
    }
}

/// Writes the truth table.
pub fn write_truth(path: &Path, truths: &[Truth]) -> Result<(), SimError> {
    let mut fields: Vec<Field> = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    let mut push = |name: &str, unit: &str, c: ArrayRef| {
        let mut f = Field::new(name, c.data_type().clone(), false);
        if !unit.is_empty() {
            f = f.with_metadata([("unit".to_string(), unit.to_string())].into());
        }
        fields.push(f);
        cols.push(c);
    };
    let u = |n: &str| COLUMNS.iter().find(|c| c.0 == n).map(|c| c.1).unwrap_or("");
    push("targetid", "", Arc::new(Int64Array::from_iter_values(truths.iter().map(|t| t.target.targetid))));
    push("sim_class", u("sim_class"), Arc::new(StringArray::from_iter_values(truths.iter().map(sim_class))));
    push(
        "is_green_pea",
        "",
        Arc::new(BooleanArray::from(truths.iter().map(|t| t.target.params.population == Population::GreenPea).collect::<Vec<_>>())),
    );
    push("programs", u("programs"), Arc::new(StringArray::from_iter_values(truths.iter().map(|t| t.target.programs.join(",")))));
    push("healpix", u("healpix"), Arc::new(Int64Array::from_iter_values(truths.iter().map(|t| t.target.pixel))));
    push("target_ra", "deg", f64s(truths, |t| t.target.ra));
    push("target_dec", "deg", f64s(truths, |t| t.target.dec));
    push("z", u("z"), f64s(truths, |t| t.target.z));
    push("x_cmpc", "Mpc", f64s(truths, |t| t.target.xyz[0]));
    push("y_cmpc", "Mpc", f64s(truths, |t| t.target.xyz[1]));
    push("z_cmpc", "Mpc", f64s(truths, |t| t.target.xyz[2]));
    push("web_class", u("web_class"), Arc::new(Int8Array::from_iter_values(truths.iter().map(|t| t.target.web_class))));
    push("dist_filament", u("dist_filament"), f32s(truths, |t| t.target.dist_filament));
    push("logm_total", u("logm_total"), f32s(truths, |t| galaxy_only(t, t.target.params.log_mass)));
    push("logm_fiber", u("logm_fiber"), f32s(truths, |t| t.log_mass_fiber));
    push("fiber_fraction", "", f32s(truths, |t| t.fibre_fraction));
    push("logsfr_100myr", u("logsfr_100myr"), f32s(truths, |t| t.log_sfr_100myr));
    let strs = |f: &dyn Fn(&Truth) -> &'static str| -> ArrayRef { Arc::new(StringArray::from_iter_values(truths.iter().map(f))) };
    push("library", u("library"), strs(&|t| t.library.code()));
    push("imf", u("imf"), strs(&|t| t.library.imf()));
    let galaxy_str = |t: &Truth, v: &'static str| if t.target.kind.is_galaxy() { v } else { "" };
    push("sfh_kind", u("sfh_kind"), strs(&|t| galaxy_str(t, t.target.params.history.code())));
    push("dust_law", u("dust_law"), strs(&|t| galaxy_str(t, t.target.params.dust.code())));
    push("line_class", u("line_class"), strs(&|t| galaxy_str(t, t.target.params.line_class.code())));
    push("av", u("av"), f32s(truths, |t| galaxy_only(t, t.target.params.av)));
    push("av_lines", u("av_lines"), f32s(truths, |t| galaxy_only(t, t.target.params.av_lines())));
    push("v_gas", u("v_gas"), f32s(truths, |t| galaxy_only(t, t.target.params.v_gas)));
    push("sigma_gas", u("sigma_gas"), f32s(truths, |t| galaxy_only(t, t.target.params.sigma_gas)));
    push("fiber_fraction_gas", "", f32s(truths, |t| t.fibre_fraction_gas));
    push("age_mw", u("age_mw"), f32s(truths, |t| t.age_mw));
    push("sigma_star", "km/s", f32s(truths, |t| galaxy_only(t, t.target.params.sigma_star)));
    push("metallicity", u("metallicity"), f32s(truths, |t| galaxy_only(t, t.target.params.metallicity)));
    push("tau", u("tau"), f32s(truths, |t| galaxy_only(t, t.target.params.tau)));
    push("sfh_age", u("sfh_age"), f32s(truths, |t| galaxy_only(t, t.target.params.sfh_age)));
    push("burst_fraction", "", f32s(truths, |t| galaxy_only(t, t.target.params.burst_fraction)));
    push("dn4000", u("dn4000"), f32s(truths, |t| t.dn4000));
    push("hdelta_a", u("hdelta_a"), f32s(truths, |t| t.hdelta_a));
    for (k, b) in ["g", "r", "z", "w1", "w2"].iter().enumerate() {
        push(&format!("flux_{b}"), "nanomaggy", f32s(truths, |t| t.flux[k]));
    }
    for (k, name) in line_names().iter().enumerate() {
        push(&format!("line_{}", name.to_lowercase()), "1e-17 erg/s/cm2, observed, whole galaxy", f32s(truths, |t| t.line_flux[k]));
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), cols)?;
    let tmp = path.with_extension("parquet.tmp");
    let file = std::fs::File::create(&tmp).map_err(|e| SimError::Io(tmp.clone(), e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(|source| SimError::Parquet { path: tmp.clone(), source })?))
        .set_created_by("desi-ard desi-sim".into())
        .build();
    let mut w = ArrowWriter::try_new(file, schema, Some(props)).map_err(|source| SimError::Parquet { path: tmp.clone(), source })?;
    w.write(&batch).map_err(|source| SimError::Parquet { path: tmp.clone(), source })?;
    w.close().map_err(|source| SimError::Parquet { path: tmp.clone(), source })?;
    std::fs::rename(&tmp, path).map_err(|e| SimError::Io(path.to_path_buf(), e))?;
    let _ = DataType::Null;
    Ok(())
}
