//! What the last topology run saw: `topology/state.json` (the leaves it wrote, its
//! settings), so that re-ingested pixels show as stale, and the fingerprint that ties
//! a sub-volume's result to the catalogue and settings it was computed from.

use std::path::{Path, PathBuf};

use ard_store::atomic::write_atomic;
use ard_store::layout::ArdLayout;
use ard_store::manifest::PixelRecord;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::subvolumes::{skeleton_path, sub_path, SubvolumeReport};
use super::{TopologyOptions, TopologyReport, TOPOLOGY_DIR};
use crate::IngestError;

/// `topology/state.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TopologyState {
    /// SHA-256 of every catalogue leaf the last run wrote, by pixel.
    pub leaves: std::collections::BTreeMap<u64, String>,
    /// Settings and figures of the last run.
    pub last_run: Option<RunSummary>,
}

/// What a topology run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Sub-volumes.
    pub subvolumes: usize,
    /// Buffer, Mpc.
    pub buffer_mpc: f64,
    /// Persistence significance, σ.
    pub n_sigma: f64,
    /// Arcs trimmed below this multiple of the mean density at their saddle.
    #[serde(default)]
    pub trim_below: f64,
    /// Knot and filament radii, Mpc.
    pub r_node: f64,
    /// Filament radius, Mpc.
    pub r_filament: f64,
    /// Galaxies of the density-defining population.
    pub galaxies: usize,
    /// Rows written.
    pub rows: usize,
    /// Wall time, s.
    pub seconds: f64,
}

impl TopologyState {
    fn path(ard: &Path) -> PathBuf {
        ard.join(TOPOLOGY_DIR).join("state.json")
    }
    /// Reads the state (default when there is none).
    pub fn read(ard: &Path) -> Result<Self, IngestError> {
        let p = Self::path(ard);
        match std::fs::read_to_string(&p) {
            Ok(t) => Ok(serde_json::from_str(&t).map_err(|source| ard_store::StoreError::Corrupt { path: p.clone(), source })?),
            Err(_) => Ok(TopologyState::default()),
        }
    }
    fn write(&self, ard: &Path) -> Result<(), IngestError> {
        let p = Self::path(ard);
        let text = serde_json::to_vec_pretty(self).map_err(|source| ard_store::StoreError::Corrupt { path: p.clone(), source })?;
        Ok(write_atomic(&p, &text)?)
    }
}

/// Pixels whose topology columns are not from the last topology run: ingested since
/// (their rows are null, and their neighbours' environment may have changed) or never
/// processed. Empty when the topology is current.
pub fn stale_pixels(ard: &Path) -> Result<Vec<u64>, IngestError> {
    let layout = ArdLayout::new(ard);
    let state = TopologyState::read(ard)?;
    let mut stale = Vec::new();
    for r in PixelRecord::all(&layout)?.iter().filter(|r| r.status.published()) {
        let leaf = layout.relative(&layout.catalog_leaf(r.pixel));
        let now = r.outputs.iter().find(|o| o.path == leaf).map(|o| o.sha256.as_str());
        if now.is_none() || state.leaves.get(&r.pixel).map(String::as_str) != now {
            stale.push(r.pixel);
        }
    }
    Ok(stale)
}

/// Identity of what a topology run reads: every done pixel's ingest configuration and
/// input contents (SHA-256 from the manifest) and the run's settings. Sub-volume results
/// carry it, so a merge never stitches results computed from another catalogue or with
/// other settings. Writing the topology columns leaves it unchanged.
pub fn run_fingerprint(ard: &Path, opts: &TopologyOptions) -> Result<String, IngestError> {
    let layout = ArdLayout::new(ard);
    let mut h = Sha256::new();
    h.update(format!("{opts:?}"));
    let mut records = PixelRecord::all(&layout)?;
    records.retain(|r| r.status.published());
    records.sort_by_key(|r| r.pixel);
    for r in &records {
        h.update(format!("|{}:{}", r.pixel, r.config));
        for i in &r.inputs {
            h.update(format!(",{}", i.sha256));
        }
    }
    Ok(format!("{:x}", h.finalize())[..16].to_string())
}

/// Whether sub-volume `i`'s result can be merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SubvolumeState {
    /// No result.
    Missing,
    /// A result from another catalogue or other settings.
    Stale,
    /// A result from this catalogue and these settings.
    Current,
}

/// The state of every sub-volume's result for `opts` (`opts.subvolumes` of them).
pub fn subvolume_states(ard: &Path, opts: &TopologyOptions) -> Result<Vec<SubvolumeState>, IngestError> {
    Ok(states_against(ard, opts, &run_fingerprint(ard, opts)?))
}

fn states_against(ard: &Path, opts: &TopologyOptions, fp: &str) -> Vec<SubvolumeState> {
    (0..opts.subvolumes)
        .map(|i| {
            let json = sub_path(ard, opts.subvolumes, i).with_extension("json");
            let report: Option<SubvolumeReport> = std::fs::read_to_string(&json).ok().and_then(|t| serde_json::from_str(&t).ok());
            match report {
                _ if !sub_path(ard, opts.subvolumes, i).exists() || !skeleton_path(ard, opts.subvolumes, i).exists() => {
                    SubvolumeState::Missing
                }
                None => SubvolumeState::Missing,
                Some(r) if r.fingerprint == fp => SubvolumeState::Current,
                Some(_) => SubvolumeState::Stale,
            }
        })
        .collect()
}

/// Refuses a merge unless every sub-volume has a result for this catalogue and these
/// settings (`fp`, [`run_fingerprint`]).
pub(super) fn require_mergeable(ard: &Path, opts: &TopologyOptions, fp: &str) -> Result<(), IngestError> {
    let n = opts.subvolumes;
    let not_ready: Vec<String> = states_against(ard, opts, fp)
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            SubvolumeState::Current => None,
            SubvolumeState::Missing => Some(format!("sub-volume {i} of {n} has no result")),
            SubvolumeState::Stale => Some(format!(
                "sub-volume {i} of {n} has a stale result (computed before pixels were ingested, or with other --buffer/--nsig/--trim)"
            )),
        })
        .collect();
    if not_ready.is_empty() {
        return Ok(());
    }
    Err(IngestError::MergeNotReady { ard: ard.to_path_buf(), count: n, reasons: not_ready })
}

/// Records a finished merge: the leaves it wrote and its settings and figures.
pub(super) fn record_run(ard: &Path, opts: &TopologyOptions, report: &TopologyReport, seconds: f64) -> Result<(), IngestError> {
    let state = TopologyState {
        leaves: report.written.clone(),
        last_run: Some(RunSummary {
            subvolumes: opts.subvolumes,
            buffer_mpc: opts.buffer_mpc,
            n_sigma: opts.web.skeleton.n_sigma,
            trim_below: opts.web.skeleton.trim_below,
            r_node: opts.web.r_node,
            r_filament: opts.web.r_filament,
            galaxies: report.galaxies,
            rows: report.rows,
            seconds,
        }),
    };
    state.write(ard)
}
