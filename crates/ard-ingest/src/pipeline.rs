//! The pipeline, assembled once: which per-object layers ingest runs, in which order,
//! with which settings, and every column they write.
//!
//! * [`LAYERS`] — the registry: each layer's name, code version, column specs, and the
//!   source files whose change must come with a version bump (checked by the
//!   `stage_versions` test against `stage-versions.lock`);
//! * [`Settings`] — what a run computes (physics, SED, templates, AstroCLIP weights,
//!   workers), from the ARD's settings file `ARD/desi-ard.toml` and the caller's overrides;
//! * [`Settings::stages`] — the stages in their fixed order: AstroCLIP, `emb_pca`
//!   (learning the ARD's basis first when it has none), physics, SED, topology placeholders;
//! * [`schema_markdown`] — `docs/schema.md`, generated from the registry.
//!
//! The CLI maps its flags onto [`Settings`]; nothing else decides what runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ard_core::{ColumnSpec, StageRef};

use crate::{IngestError, IngestOptions};

/// One layer of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct Layer {
    /// Stage name (the manifest's and the `<name>_status` column's).
    pub name: &'static str,
    /// What it computes, for `desi-ard info` and the schema.
    pub title: &'static str,
    /// Code version: part of the configuration fingerprint, so a bump re-runs pixels.
    pub version: u32,
    /// Its columns, in order.
    pub columns: fn() -> Vec<ColumnSpec>,
    /// Where the columns are computed (for the schema).
    pub code: &'static str,
    /// The workspace crates and files whose sources make its values (with their
    /// workspace dependencies): a change there needs a version bump.
    pub sources: &'static [&'static str],
}

/// Every layer, in column order. `core` is the catalogue's spine (not a stage).
pub const LAYERS: [Layer; 6] = [
    Layer {
        name: "core",
        title: "identity, redshift, photometry, targeting, S/N, DESI afterburners and VACs joined",
        version: crate::columns::VERSION,
        columns: crate::columns::core_specs,
        code: "crates/ard-ingest/src/columns.rs",
        sources: &[
            "crates/ard-ingest/src/columns.rs",
            "crates/ard-ingest/src/joins.rs",
            "crates/desi-io",
            "crates/ard-store/src/catalog.rs",
        ],
    },
    Layer {
        name: "astroclip",
        title: "AstroCLIP spectrum embeddings (null without weights)",
        version: ard_ai::stage::ASTROCLIP_VERSION,
        columns: ard_ai::AstroclipStage::column_specs,
        code: "crates/ard-ai/src/stage.rs",
        sources: &["crates/ard-ai"],
    },
    Layer {
        name: "pca",
        title: "emb_pca, the weight-free gappy-PCA embedding",
        version: ard_ai::stage::PCA_VERSION,
        columns: ard_ai::PcaStage::column_specs,
        code: "crates/ard-ai/src/stage.rs",
        sources: &["crates/ard-ai", "crates/ard-ingest/src/models.rs"],
    },
    Layer {
        name: "physics",
        title: "Dn4000, HδA, stellar kinematics, emission lines",
        version: ard_physics::PhysicsStage::VERSION,
        columns: ard_physics::PhysicsStage::column_specs,
        code: "crates/ard-physics/src/stage.rs",
        sources: &["crates/ard-physics"],
    },
    Layer {
        name: "sed",
        title: "Bayesian SED posteriors (opt-in: --sed)",
        version: ard_sed::SedStage::VERSION,
        columns: ard_sed::SedStage::column_specs,
        code: "crates/ard-sed/src/stage.rs",
        sources: &["crates/ard-sed"],
    },
    Layer {
        name: "topology",
        title: "cosmic web, Σ5 (filled by `desi-ard topology`)",
        version: crate::topology::VERSION,
        columns: crate::topology::column_specs,
        code: "crates/ard-ingest/src/topology/mod.rs",
        sources: &["crates/ard-ingest/src/topology", "crates/ard-topology"],
    },
];

/// The registry entry of a layer.
pub fn layer(name: &str) -> Option<&'static Layer> {
    LAYERS.iter().find(|l| l.name == name)
}

/// What an ingest computes. Unset fields fall back to the ARD's settings file, then to
/// the defaults (physics on, SED off, templates from `scripts/setup.sh`, no AstroCLIP).
#[derive(Debug, Default, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// AstroCLIP weights (the published `astroclip.ckpt`, a torch state dict or safetensors).
    pub astroclip: Option<PathBuf>,
    /// E-MILES template file.
    pub templates: Option<PathBuf>,
    /// Run the physics layer.
    pub physics: Option<bool>,
    /// Pixels in parallel.
    pub workers: Option<usize>,
    /// Run the SED fit.
    pub sed: Option<bool>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    #[serde(default)]
    ingest: Settings,
}

/// The settings file's name inside an ARD.
pub const SETTINGS_FILE: &str = "desi-ard.toml";

impl Settings {
    /// Reads the settings file — `explicit`, else `ARD/desi-ard.toml` when it exists,
    /// else none — so that every re-run, shard and Slurm task of an ARD uses the same
    /// layers:
    ///
    /// ```toml
    /// [ingest]
    /// astroclip = "/data/models/astroclip.ckpt"   # relative paths: to the file's folder
    /// templates = "/data/emiles-ssp-v1.fits"
    /// physics = true
    /// sed = false
    /// workers = 16
    /// ```
    pub fn from_file(explicit: Option<&Path>, ard: &Path) -> Result<Self, IngestError> {
        let default = ard.join(SETTINGS_FILE);
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None if default.exists() => default,
            None => return Ok(Settings::default()),
        };
        let bad = |message: String| IngestError::Settings { path: path.clone(), message };
        let text = std::fs::read_to_string(&path).map_err(|e| ard_store::StoreError::io(&path, e))?;
        let file: SettingsFile = toml::from_str(&text).map_err(|source| IngestError::SettingsSyntax { path: path.clone(), source })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let resolve = |p: Option<PathBuf>| p.map(|p| if p.is_absolute() { p } else { base.join(p) });
        let mut s = file.ingest;
        s.astroclip = resolve(s.astroclip);
        s.templates = resolve(s.templates);
        if let Some(a) = &s.astroclip {
            if !a.exists() {
                return Err(bad(format!("astroclip weights {} do not exist", a.display())));
            }
        }
        Ok(s)
    }

    /// `self` with the unset fields taken from `fallback`.
    pub fn or(self, fallback: Settings) -> Settings {
        Settings {
            astroclip: self.astroclip.or(fallback.astroclip),
            templates: self.templates.or(fallback.templates),
            physics: self.physics.or(fallback.physics),
            workers: self.workers.or(fallback.workers),
            sed: self.sed.or(fallback.sed),
        }
    }

    /// Whether the physics layer runs (default yes).
    pub fn physics(&self) -> bool {
        self.physics.unwrap_or(true)
    }

    /// Whether the SED fit runs (default no: seconds per galaxy).
    pub fn sed(&self) -> bool {
        self.sed.unwrap_or(false)
    }

    /// The stages of `opts`' ARD, in their fixed order (see the module docs): loads the
    /// AstroCLIP weights and the templates, and loads — or learns, when the ARD has none
    /// or `refit_models` — the `emb_pca` basis. Also returns what the basis step did.
    pub fn stages(
        &self,
        opts: &IngestOptions,
        refit_models: bool,
    ) -> Result<(Vec<StageRef>, Option<crate::models::ModelReport>), IngestError> {
        let encoder = match &self.astroclip {
            Some(p) => Some(ard_ai::load_encoder(p, None).map_err(|e| IngestError::Model { path: p.clone(), source: Box::new(e) })?),
            None => None,
        };
        let source = self.astroclip.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        let mut stages: Vec<StageRef> = vec![Arc::new(ard_ai::AstroclipStage::new(encoder, &source))];
        let (model, report) = match crate::models::ensure_pca_model(opts, refit_models)? {
            Some((m, r)) => (Some(m), Some(r)),
            None => (None, None),
        };
        stages.push(Arc::new(ard_ai::PcaStage::new(model)));
        if self.physics() || self.sed() {
            let lib = Arc::new(self.templates()?);
            if self.physics() {
                stages.push(Arc::new(ard_physics::PhysicsStage::new(lib.clone(), ard_physics::FitConfig::default())));
            }
            if self.sed() {
                stages.push(Arc::new(ard_sed::SedStage::new(lib, ard_sed::SedConfig::default())));
            }
        }
        stages.push(Arc::new(crate::topology::TopologyColumns));
        Ok((stages, report))
    }

    /// The E-MILES templates.
    pub fn templates(&self) -> Result<ssp::SspLibrary, IngestError> {
        Ok(ssp::SspLibrary::locate_and_load(self.templates.as_deref())?)
    }
}

/// `docs/schema.md`, generated from [`LAYERS`] (a test checks the file is current).
pub fn schema_markdown() -> String {
    let mut s = String::from(
        "# The ARD catalogue: columns\n\n\
         Generated by `desi-ard schema` from the column specs in the code (a test checks this file is current).\n\
         One row per coadd: the key is (targetid, survey, program). Table `catalog` in `desi-ard sql`;\n\
         HATS catalogue `catalog/desi_ard` on disk.\n\n\
         | column | type | unit | description | code |\n|---|---|---|---|---|\n",
    );
    s.push_str("| `_healpix_29` | Int64 |  | order-29 NESTED HEALPix index of (target_ra, target_dec): the HATS spatial key, rows sorted by it | `crates/ard-store/src/catalog.rs` |\n");
    for l in &LAYERS {
        for c in (l.columns)() {
            s.push_str(&format!(
                "| `{}` | {} | {} | {} | `{}` |\n",
                c.name,
                c.data_type,
                c.unit,
                c.description.replace('|', "\\|"),
                l.code
            ));
        }
    }
    s.push_str("\n## Layers\n\n| layer | version | what |\n|---|---|---|\n");
    for l in &LAYERS {
        s.push_str(&format!("| `{}` | {} | {} |\n", l.name, l.version, l.title));
    }
    s.push_str(
        "\n## Exposures (`exposures`)\n\nEXP_FIBERMAP rows, joinable on (targetid, survey, program): `_healpix_29`, targetid, survey, program, target_ra, target_dec, then ",
    );
    let names: Vec<String> = crate::columns::EXPOSURE_COLUMNS.iter().map(|c| format!("`{}`", c.0.to_lowercase())).collect();
    s.push_str(&names.join(", "));
    s.push_str(
        " (EXP_FIBERMAP columns of the same names; null where a production lacks them). Code: `crates/ard-ingest/src/columns.rs`.\n",
    );
    s.push_str(
        "\n## Spectra (`spectra/Norder=6/Dir=D/Npix=P.vID.h5`)\n\nOne file per pixel version; the catalogue leaf names the current one in its \
         Parquet key-value metadata (`desi_ard.spectra`, see `crates/ard-store/src/pixel.rs`). Datasets `targetid`, `survey`, `program`, `z`, \
         `wavelength` (7781, Å vacuum), `flux`, `ivar` (float32, N × 7781, 1e-17 erg/s/cm²/Å), `mask` (int32); sorted by (targetid, survey, program). \
         The spectra are stored as observed (not corrected for Milky-Way extinction); the physics and SED layers correct their \
         input with FIBERMAP EBV (`ard_core::dust`). \
         Code: `crates/ard-store/src/spectra.rs`.\n",
    );
    s
}
