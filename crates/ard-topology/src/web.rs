//! Per-galaxy environment from the skeleton: exact distances to the nearest filament
//! segment and the nearest surviving maximum (node), and the cosmic-web class.
//!
//! Classification (written to the catalogue metadata with its thresholds):
//! knot if `dist_node` < `r_node`; else filament if `dist_filament` < `r_filament`; else
//! sheet if the DTFE density is at least the mean density (δ ≥ 0: the survey's radial
//! selection at the galaxy's distance when given, else the volume's mean), else void.

use std::num::NonZeroUsize;

use kiddo::{ImmutableKdTree, SquaredEuclidean};
use rayon::prelude::*;

use crate::delaunay::{Delaunay, DelaunayError};
use crate::morse::{skeleton, Skeleton, SkeletonConfig};

pub use ard_core::web::WebClass;

/// Settings of the whole topology computation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WebConfig {
    /// Persistence and smoothing.
    pub skeleton: SkeletonConfig,
    /// Knot radius around a surviving maximum, comoving Mpc.
    pub r_node: f64,
    /// Filament radius around the skeleton, comoving Mpc.
    pub r_filament: f64,
    /// Mean number density of the density-defining population, Mpc⁻³, for the trim and
    /// the sheet/void split, as a function of comoving distance from the observer — the
    /// survey's radial selection — the same for every sub-volume (`None`: the analysed
    /// volume's own mean, points / hull volume).
    pub background: Option<RadialDensity>,
}

/// Number density of a survey in shells of comoving distance (its radial selection).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RadialDensity {
    /// Inner edge of the first shell, Mpc.
    pub d_min: f64,
    /// Outer edge of the last shell, Mpc.
    pub d_max: f64,
    /// Density per shell, Mpc⁻³ (equal widths in distance).
    pub shells: [f64; RadialDensity::SHELLS],
}

impl RadialDensity {
    /// Number of shells.
    pub const SHELLS: usize = 24;

    /// From the positions of the population and the footprint's solid angle (sr); each
    /// shell's density is averaged with its neighbours (a 3-shell running mean).
    pub fn from_positions(points: &[[f64; 3]], solid_angle: f64) -> Option<Self> {
        let dist: Vec<f64> = points.iter().map(|p| (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt()).collect();
        let d_min = dist.iter().cloned().fold(f64::INFINITY, f64::min);
        let d_max = dist.iter().cloned().fold(0.0, f64::max);
        if !(d_max > d_min) || solid_angle <= 0.0 {
            return None;
        }
        let w = (d_max - d_min) / Self::SHELLS as f64;
        let mut counts = [0.0f64; Self::SHELLS];
        for d in dist {
            counts[(((d - d_min) / w) as usize).min(Self::SHELLS - 1)] += 1.0;
        }
        let raw: Vec<f64> = (0..Self::SHELLS)
            .map(|k| {
                let (a, b) = (d_min + k as f64 * w, d_min + (k + 1) as f64 * w);
                counts[k] / (solid_angle / 3.0 * (b.powi(3) - a.powi(3)))
            })
            .collect();
        let shells = std::array::from_fn(|k| {
            let lo = k.saturating_sub(1);
            let hi = (k + 1).min(Self::SHELLS - 1);
            raw[lo..=hi].iter().sum::<f64>() / (hi - lo + 1) as f64
        });
        Some(RadialDensity { d_min, d_max, shells })
    }

    /// The density at position `p` (linear between shell centres).
    pub fn at(&self, p: &[f64; 3]) -> f64 {
        let d = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
        let w = (self.d_max - self.d_min) / Self::SHELLS as f64;
        let x = ((d - self.d_min) / w - 0.5).clamp(0.0, (Self::SHELLS - 1) as f64);
        let k = (x.floor() as usize).min(Self::SHELLS - 2);
        let f = x - k as f64;
        self.shells[k] + f * (self.shells[k + 1] - self.shells[k])
    }
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig { skeleton: SkeletonConfig::default(), r_node: 2.0, r_filament: 2.0, background: None }
    }
}

/// One galaxy's environment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Environment {
    /// The class.
    pub web_class: WebClass,
    /// Distance to the nearest filament segment, comoving Mpc.
    pub dist_filament: f64,
    /// Distance to the nearest surviving density maximum, comoving Mpc.
    pub dist_node: f64,
    /// DTFE density, galaxies per comoving Mpc³.
    pub density: f64,
    /// On the convex hull of the volume (density and class unreliable).
    pub boundary: bool,
}

/// A filament segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// End points, comoving Mpc.
    pub a: [f64; 3],
    /// Second end.
    pub b: [f64; 3],
    /// Whether its arc touches the volume's boundary.
    pub boundary: bool,
}

/// Tessellation, density, skeleton: everything computed from one volume's points.
#[derive(Debug, Clone)]
pub struct VolumeAnalysis {
    /// DTFE density per point.
    pub density: Vec<f64>,
    /// Convex-hull flag per point.
    pub hull: Vec<bool>,
    /// The skeleton.
    pub skeleton: Skeleton,
    /// Mean density of the volume (points / hull volume).
    pub mean_density: f64,
    /// Tetrahedra in the tessellation.
    pub n_tets: usize,
}

/// Tessellates `points`, estimates the density and extracts the skeleton.
pub fn analyse(points: &[[f64; 3]], cfg: &WebConfig) -> Result<VolumeAnalysis, DelaunayError> {
    let del = Delaunay::new(points)?;
    let density = del.dtfe_density();
    let hull = del.hull_flags();
    let volume: f64 = del.finite_tets().map(|t| del.volume(t)).sum();
    let field = del.smooth_field(&density, cfg.skeleton.density_smooth);
    let mut skeleton = skeleton(&del, &field, &cfg.skeleton);
    let mean_density = points.len() as f64 / volume.max(f64::MIN_POSITIVE);
    let before = skeleton.arcs.len();
    skeleton
        .arcs
        .retain(|a| a.saddle_density >= cfg.skeleton.trim_below * cfg.background.map_or(mean_density, |b| b.at(&a.saddle_position)));
    skeleton.trimmed = before - skeleton.arcs.len();
    let n_tets = del.finite_tets().count();
    Ok(VolumeAnalysis { density, hull, skeleton, mean_density, n_tets })
}

/// The segments of a skeleton's arcs.
pub fn segments(sk: &Skeleton) -> Vec<Segment> {
    sk.arcs.iter().flat_map(|arc| arc.points.windows(2).map(move |w| Segment { a: w[0], b: w[1], boundary: arc.boundary })).collect()
}

/// Exact distance from `p` to the segment.
pub fn point_segment_distance(p: &[f64; 3], s: &Segment) -> f64 {
    let ab = [s.b[0] - s.a[0], s.b[1] - s.a[1], s.b[2] - s.a[2]];
    let ap = [p[0] - s.a[0], p[1] - s.a[1], p[2] - s.a[2]];
    let len2 = ab[0] * ab[0] + ab[1] * ab[1] + ab[2] * ab[2];
    let t = if len2 > 0.0 { ((ap[0] * ab[0] + ap[1] * ab[1] + ap[2] * ab[2]) / len2).clamp(0.0, 1.0) } else { 0.0 };
    let d = [ap[0] - t * ab[0], ap[1] - t * ab[1], ap[2] - t * ab[2]];
    (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt()
}

/// Nearest-segment queries: a k-d tree over segment midpoints; a candidate farther than
/// (best distance + the longest half-length) cannot be nearer, so the search is exact.
pub struct SegmentIndex {
    segments: Vec<Segment>,
    tree: Option<ImmutableKdTree<f64, 3>>,
    max_half: f64,
}

impl SegmentIndex {
    /// Longest indexed piece, Mpc.
    pub const MAX_PIECE: f64 = 1.0;

    /// Indexes `segments`. Long segments (an arc can cross a void in one Delaunay edge)
    /// are cut into pieces of at most [`SegmentIndex::MAX_PIECE`] Mpc — the same set of
    /// points — so that the pruning bound stays tight.
    pub fn new(segments: Vec<Segment>) -> Self {
        let segments: Vec<Segment> = segments
            .into_iter()
            .flat_map(|s| {
                let len = (0..3).map(|k| (s.b[k] - s.a[k]).powi(2)).sum::<f64>().sqrt();
                let pieces = ((len / Self::MAX_PIECE).ceil() as usize).max(1);
                (0..pieces).map(move |i| {
                    let at = |t: f64| -> [f64; 3] { std::array::from_fn(|k| s.a[k] + t * (s.b[k] - s.a[k])) };
                    Segment { a: at(i as f64 / pieces as f64), b: at((i + 1) as f64 / pieces as f64), boundary: s.boundary }
                })
            })
            .collect();
        let mids: Vec<[f64; 3]> = segments.iter().map(|s| std::array::from_fn(|k| 0.5 * (s.a[k] + s.b[k]))).collect();
        let max_half = segments.iter().map(|s| 0.5 * (0..3).map(|k| (s.b[k] - s.a[k]).powi(2)).sum::<f64>().sqrt()).fold(0.0, f64::max);
        let tree = (!mids.is_empty()).then(|| ImmutableKdTree::new_from_slice(&mids));
        SegmentIndex { segments, tree, max_half }
    }

    /// Distance from `p` to the nearest segment (∞ when there is none).
    pub fn distance(&self, p: &[f64; 3]) -> f64 {
        let Some(tree) = &self.tree else { return f64::INFINITY };
        let total = self.segments.len();
        let mut want = 16.min(total);
        loop {
            let found = tree.nearest_n::<SquaredEuclidean>(p, NonZeroUsize::new(want).unwrap_or(NonZeroUsize::MIN));
            let best = found.iter().map(|nb| point_segment_distance(p, &self.segments[nb.item as usize])).fold(f64::INFINITY, f64::min);
            let farthest = found.last().map_or(0.0, |nb| nb.distance.sqrt());
            if want == total || farthest - self.max_half > best {
                return best;
            }
            want = (want * 4).min(total);
        }
    }
}

/// Distances and classes of `points` given a volume's skeleton (segments and node
/// positions) and densities; `mean_density` is the sheet/void divide when `cfg` has no
/// radial background.
pub fn classify(
    points: &[[f64; 3]],
    density: &[f64],
    hull: &[bool],
    segs: &SegmentIndex,
    nodes: &[[f64; 3]],
    mean_density: f64,
    cfg: &WebConfig,
) -> Vec<Environment> {
    let node_tree = (!nodes.is_empty()).then(|| ImmutableKdTree::new_from_slice(nodes));
    points
        .par_iter()
        .enumerate()
        .map(|(i, p)| {
            let dist_filament = segs.distance(p);
            let dist_node = node_tree.as_ref().map_or(f64::INFINITY, |t| t.nearest_one::<SquaredEuclidean>(p).distance.sqrt());
            let web_class = if dist_node < cfg.r_node {
                WebClass::Knot
            } else if dist_filament < cfg.r_filament {
                WebClass::Filament
            } else if density[i] >= cfg.background.map_or(mean_density, |b| b.at(p)) {
                WebClass::Sheet
            } else {
                WebClass::Void
            };
            Environment { web_class, dist_filament, dist_node, density: density[i], boundary: hull[i] }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_index_is_exact() {
        let mut u = crate::test_rng::uniform(17);
        // Short and long (up to 60 Mpc) segments in a 100 Mpc box.
        let segs: Vec<Segment> = (0..300)
            .map(|k| {
                let a = [u() * 100.0, u() * 100.0, u() * 100.0];
                let len = if k % 10 == 0 { 60.0 } else { 2.0 };
                let b = [a[0] + len * (u() - 0.5), a[1] + len * (u() - 0.5), a[2] + len * (u() - 0.5)];
                Segment { a, b, boundary: false }
            })
            .collect();
        let index = SegmentIndex::new(segs.clone());
        for _ in 0..500 {
            let p = [u() * 120.0 - 10.0, u() * 120.0 - 10.0, u() * 120.0 - 10.0];
            let brute = segs.iter().map(|s| point_segment_distance(&p, s)).fold(f64::INFINITY, f64::min);
            assert!((index.distance(&p) - brute).abs() < 1e-9, "{} vs {brute}", index.distance(&p));
        }
        assert_eq!(SegmentIndex::new(Vec::new()).distance(&[0.0; 3]), f64::INFINITY);
        // A uniform cone: the radial density is its number density at every distance.
        let (mut pts, half) = (Vec::new(), 0.2f64);
        while pts.len() < 20_000 {
            let p = [u() * 2.0 - 1.0, u() * 2.0 - 1.0, u()].map(|v| v * 500.0);
            let r = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
            if r > 100.0 && r < 500.0 && p[2] / r > half.cos() {
                pts.push(p);
            }
        }
        let omega = std::f64::consts::TAU * (1.0 - half.cos());
        let n = 20_000.0 / (omega / 3.0 * (500f64.powi(3) - 100f64.powi(3)));
        let rd = RadialDensity::from_positions(&pts, omega).unwrap();
        for d in [150.0, 300.0, 450.0] {
            let got = rd.at(&[0.0, 0.0, d]);
            assert!((got / n - 1.0).abs() < 0.15, "at {d} Mpc: {got} vs {n}");
        }
        assert_eq!(point_segment_distance(&[0.0, 3.0, 0.0], &Segment { a: [-1.0, 0.0, 0.0], b: [1.0, 0.0, 0.0], boundary: false }), 3.0);
    }
}
