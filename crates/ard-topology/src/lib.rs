//! `ard-topology` owns the topology layer: each galaxy's cosmic-web environment, computed
//! once over the whole catalogue and stored as columns.
//!
//! * [`decomposition`]: the grid of overlapping sub-volumes the volume is cut into;
//! * [`geometry`]: comoving positions (flat ΛCDM, Planck 2018 — the cosmology of every
//!   layer);
//! * [`sigma5`]: Σ5 projected local density within ±1000 km/s, exact (k-d trees), with the
//!   footprint fraction of its disc;
//! * [`delaunay`]: our own 3-D Delaunay tessellation with exact predicates;
//! * [`morse`]: DTFE density, persistence pairs and the filament skeleton, calibrated
//!   like DisPerSE (Sousbie 2011; written from the papers, not from DisPerSE's CeCILL code);
//! * [`web`]: distances to filaments and nodes, and the web class.
#![deny(missing_docs)]

pub mod decomposition;
pub mod delaunay;
pub mod geometry;
pub mod morse;
pub mod sigma5;
pub mod web;

pub use decomposition::{grid_for, Cells};
pub use delaunay::{Delaunay, DelaunayError};
pub use morse::{persistence_threshold, PairKind, Skeleton, SkeletonConfig};
pub use sigma5::{sigma5, Sigma5, Sigma5Config};
pub use web::{analyse, classify, Environment, RadialDensity, Segment, SegmentIndex, VolumeAnalysis, WebConfig};

#[cfg(test)]
mod test_rng {
    /// A seeded xorshift64 stream of uniform numbers in [0, 1), for the unit tests.
    pub fn uniform(seed: u64) -> impl FnMut() -> f64 {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        }
    }
}
