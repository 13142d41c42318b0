//! `desi-ard fit`: the physics layer on any one 1-D spectrum (an SDSS `spec` file, or a
//! FITS or CSV table), outside an ARD.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use ard_core::dust::MilkyWay;
use ard_core::StatusCode;
use ard_physics::lines::GAS_LINES;
use ard_physics::{measure, FitConfig, FitResult, Measurement, ObjectInput};
use desi_io::spectrum1d::{read_spectrum_1d, Lsf, Medium};
use ssp::ops::gaussian_resolution_angstrom;

/// Arguments of `desi-ard fit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The spectrum: an SDSS spec file (HDUs COADD + SPECOBJ), a FITS table or a CSV file
    /// with wavelength, flux and ivar (or error) columns.
    pub spectrum: PathBuf,
    /// Redshift (default: the file's own, SDSS SPECOBJ.Z).
    #[arg(long)]
    pub z: Option<f64>,
    /// The table's wavelengths are in air.
    #[arg(long, conflicts_with = "vacuum")]
    pub air: bool,
    /// The table's wavelengths are in vacuum (SDSS files are; DESI's are).
    #[arg(long)]
    pub vacuum: bool,
    /// Instrumental resolution as a constant FWHM in Å (default: the file's own, SDSS wdisp).
    #[arg(long, conflicts_with = "resolving_power")]
    pub fwhm: Option<f64>,
    /// Instrumental resolution as a constant resolving power R = λ/FWHM.
    #[arg(long)]
    pub resolving_power: Option<f64>,
    /// Milky-Way E(B−V) (SFD98) to correct for before fitting, as ingest does for DESI
    /// spectra (default: none — the spectrum is fitted as given).
    #[arg(long)]
    pub ebv: Option<f64>,
    /// LOSVD moments of the stars: 2 (V, σ) or 4 (also h3, h4).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(2..=4))]
    pub moments: u8,
    /// Output: text (a table) or json.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
    /// The E-MILES template file (default: the one scripts/setup.sh converted).
    #[arg(long)]
    pub templates: Option<PathBuf>,
}

/// Runs `desi-ard fit`.
pub fn run(args: Args) -> Result<()> {
    if args.moments == 3 {
        bail!("--moments is 2 (V, σ) or 4 (V, σ, h3, h4)");
    }
    let medium = match (args.air, args.vacuum) {
        (true, _) => Some(Medium::Air),
        (_, true) => Some(Medium::Vacuum),
        _ => None,
    };
    let spectrum = read_spectrum_1d(&args.spectrum, medium)?;
    let Some(z) = args.z.or(spectrum.z) else {
        bail!("{}: the file records no redshift: give --z", args.spectrum.display());
    };
    let lsf = match (args.fwhm, args.resolving_power) {
        (Some(f), _) => Some(Lsf::FwhmAngstrom(f)),
        (_, Some(r)) => Some(Lsf::ResolvingPower(r)),
        _ => None,
    };
    let sigma = spectrum.sigma_angstrom(lsf)?;
    let (resolution, ndiag) = gaussian_resolution_angstrom(&spectrum.wave_vac, &sigma);
    let (flux, ivar) = MilkyWay::new(&spectrum.wave_vac).correct(&spectrum.flux, &spectrum.ivar, args.ebv);
    let lib = ssp::SspLibrary::locate_and_load(args.templates.as_deref()).context("the E-MILES templates (run scripts/setup.sh)")?;
    let cfg = FitConfig { gauss_hermite: args.moments == 4, ..Default::default() };
    let object = ObjectInput {
        wave: &spectrum.wave_vac,
        flux: &flux,
        ivar: &ivar,
        mask: &spectrum.mask,
        resolution: &resolution,
        ndiag,
        z: Some(z),
        spectype: Some("GALAXY"),
        zwarn: Some(0),
        fibre: Default::default(),
        redshift_file: true,
    };
    let m = measure(&lib, &cfg, &object);
    let report = Report { source: &spectrum.format, z, m: &m };
    match args.format.as_str() {
        "json" => println!("{}", serde_json::to_string_pretty(&report.json())?),
        _ => print!("{}", report.text(&args.spectrum.display().to_string())),
    }
    if m.fit.is_none() {
        bail!("{}: the fit did not run ({})", args.spectrum.display(), m.status.code());
    }
    Ok(())
}

/// What `fit` prints.
struct Report<'a> {
    source: &'a str,
    z: f64,
    m: &'a Measurement,
}

impl Report<'_> {
    fn json(&self) -> serde_json::Value {
        let measured = |v: Option<ard_physics::indices::Measured>| v.map(|m| serde_json::json!({"value": m.value, "err": m.err}));
        let mut out = serde_json::json!({
            "format": self.source,
            "z": self.z,
            "status": self.m.status.code(),
            "dn4000": measured(self.m.dn4000),
            "hdelta_a": measured(self.m.hdelta_a),
        });
        if let Some(f) = &self.m.fit {
            out["fit"] = fit_json(f);
        }
        out
    }

    fn text(&self, name: &str) -> String {
        let mut s = format!("{name} ({}), z = {:.6}: {}\n", self.source, self.z, self.m.status.code());
        let index = |v: Option<ard_physics::indices::Measured>| v.map_or("—".to_string(), |m| format!("{:.4} ± {:.4}", m.value, m.err));
        s += &format!("  Dn4000           {}\n  HdeltaA (Å)      {}\n", index(self.m.dn4000), index(self.m.hdelta_a));
        if let Some(f) = &self.m.fit {
            s += &format!(
                "  stars            V {:.1} ± {:.1} km/s, σ* {:.1} ± {:.1} km/s{}, h3 {:.3}, h4 {:.3}\n",
                f.stars.v,
                f.stars.v_err,
                f.sigma_star,
                f.sigma_star_err,
                if f.sigma_star_ok { "" } else { " (not constrained)" },
                f.h3_h4.0,
                f.h3_h4.1
            );
            for (label, k) in [("Balmer gas", &f.balmer), ("forbidden gas", &f.forbidden)] {
                if let Some(k) = k {
                    s += &format!("  {label:<16} V {:.1} ± {:.1} km/s, σ {:.1} ± {:.1} km/s\n", k.v, k.v_err, k.sigma, k.sigma_err);
                }
            }
            s += &format!("  χ²/dof (pixels)  {:.3} ({} pixels clipped)\n", f.chi2_native / f.dof_native as f64, f.n_clipped);
            s += "  line flux (file units × Å, observed frame)\n";
            for l in &f.lines {
                s += &format!("    {:<14} {:>12.4} ± {:.4}\n", GAS_LINES[l.line].name, l.flux, l.err);
            }
        }
        s
    }
}

fn fit_json(f: &FitResult) -> serde_json::Value {
    let kin = |k: &Option<ard_physics::fit::Kinematics>| {
        k.as_ref().map(|k| serde_json::json!({"v": k.v, "v_err": k.v_err, "sigma": k.sigma, "sigma_err": k.sigma_err}))
    };
    let lines: serde_json::Map<String, serde_json::Value> =
        f.lines.iter().map(|l| (GAS_LINES[l.line].name.to_string(), serde_json::json!({"flux": l.flux, "err": l.err}))).collect();
    serde_json::json!({
        "v_star": f.stars.v,
        "v_star_err": f.stars.v_err,
        "sigma_star": f.sigma_star,
        "sigma_star_err": f.sigma_star_err,
        "sigma_star_ok": f.sigma_star_ok,
        "h3": f.h3_h4.0,
        "h4": f.h3_h4.1,
        "balmer": kin(&f.balmer),
        "forbidden": kin(&f.forbidden),
        "chi2_dof": f.chi2_native / f.dof_native as f64,
        "n_clipped": f.n_clipped,
        "lines": lines,
    })
}
