//! A mock cosmic web with known geometry, in comoving Mpc.
//!
//! Nodes (knots) are a Poisson sample of the survey volume; filaments join each node
//! to its nearest neighbours (up to `MAX_LINKS`, shorter than `MAX_LENGTH`); sheets are
//! the triangles whose three sides are filaments. Galaxies are drawn from the
//! components — Gaussian clouds around nodes, cylinders around filaments, slabs on
//! sheets, and a uniform background kept away from every filament (voids) — and the
//! truth records the component and the exact distance to the nearest filament axis.
//! This is a geometric toy, not an N-body web: it gives every class a known answer.

use crate::footprint::Footprint;
use crate::rng::Rng;
use ard_core::web::WebClass;

/// Cosmic-web classes as the truth table stores them (codes of [`ard_core::web::WebClass`]).
pub const VOID: i8 = WebClass::Void as i8;
/// Sheet (wall).
pub const SHEET: i8 = WebClass::Sheet as i8;
/// Filament.
pub const FILAMENT: i8 = WebClass::Filament as i8;
/// Knot.
pub const KNOT: i8 = WebClass::Knot as i8;

const MAX_LINKS: usize = 3;
const MAX_LENGTH: f64 = 45.0;
const KNOT_SIGMA: f64 = 1.0;
const FILAMENT_SIGMA: f64 = 0.8;
const SHEET_SIGMA: f64 = 1.2;
const VOID_CLEARANCE: f64 = 6.0;

/// The web: nodes, filaments (node index pairs) and sheets (node index triples).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Web {
    /// Node positions (x, y, z), comoving Mpc.
    pub nodes: Vec<[f64; 3]>,
    /// Filaments as pairs of node indices.
    pub filaments: Vec<[usize; 2]>,
    /// Sheets as triples of node indices.
    pub sheets: Vec<[usize; 3]>,
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}
fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}
fn add_scaled(a: [f64; 3], b: [f64; 3], s: f64) -> [f64; 3] {
    [a[0] + s * b[0], a[1] + s * b[1], a[2] + s * b[2]]
}

/// Distance from `p` to the segment `a`–`b`.
pub fn point_segment_distance(p: [f64; 3], a: [f64; 3], b: [f64; 3]) -> f64 {
    let ab = sub(b, a);
    let t = (dot(sub(p, a), ab) / dot(ab, ab).max(1e-300)).clamp(0.0, 1.0);
    norm(sub(p, add_scaled(a, ab, t)))
}

/// Two unit vectors perpendicular to `d` and to each other.
fn perpendiculars(d: [f64; 3]) -> ([f64; 3], [f64; 3]) {
    let n = norm(d);
    let u = [d[0] / n, d[1] / n, d[2] / n];
    let helper = if u[0].abs() < 0.9 { [1.0, 0.0, 0.0] } else { [0.0, 1.0, 0.0] };
    let e1 = cross(u, helper);
    let e1n = norm(e1);
    let e1 = [e1[0] / e1n, e1[1] / e1n, e1[2] / e1n];
    (e1, cross(u, e1))
}

impl Web {
    /// Builds a web with nodes of mean separation `node_spacing` Mpc in the footprint.
    pub fn generate(fp: &Footprint, node_spacing: f64, rng: &mut Rng) -> Self {
        let n_nodes = ((fp.volume() / node_spacing.powi(3)).round() as usize).max(4);
        let nodes: Vec<[f64; 3]> = (0..n_nodes).map(|_| fp.uniform_point(rng)).collect();
        let mut filaments: Vec<[usize; 2]> = Vec::new();
        for i in 0..nodes.len() {
            let mut d: Vec<(f64, usize)> = (0..nodes.len()).filter(|&j| j != i).map(|j| (norm(sub(nodes[i], nodes[j])), j)).collect();
            d.sort_by(|a, b| a.0.total_cmp(&b.0));
            for &(dist, j) in d.iter().take(MAX_LINKS) {
                let pair = [i.min(j), i.max(j)];
                if dist < MAX_LENGTH && !filaments.contains(&pair) {
                    filaments.push(pair);
                }
            }
        }
        filaments.sort();
        let linked = |a: usize, b: usize| filaments.contains(&[a.min(b), a.max(b)]);
        let mut sheets = Vec::new();
        for &[a, b] in &filaments {
            for c in (b + 1)..nodes.len() {
                if linked(a, c) && linked(b, c) {
                    sheets.push([a, b, c]);
                }
            }
        }
        Web { nodes, filaments, sheets }
    }

    /// Distance (Mpc) from `p` to the nearest filament axis.
    pub fn distance_to_filament(&self, p: [f64; 3]) -> f64 {
        self.filaments.iter().map(|&[a, b]| point_segment_distance(p, self.nodes[a], self.nodes[b])).fold(f64::INFINITY, f64::min)
    }

    /// Draws one galaxy position from component `class`; `None` when the draw falls
    /// outside the footprint (the caller draws again).
    pub fn draw(&self, class: i8, fp: &Footprint, rng: &mut Rng) -> Option<[f64; 3]> {
        let p = match class {
            KNOT => {
                // Knots are nodes where filaments meet; isolated nodes host none.
                let connected: Vec<usize> = (0..self.nodes.len()).filter(|&i| self.filaments.iter().any(|f| f.contains(&i))).collect();
                let c = if connected.is_empty() {
                    self.nodes[rng.below(self.nodes.len())]
                } else {
                    self.nodes[connected[rng.below(connected.len())]]
                };
                [c[0] + KNOT_SIGMA * rng.normal(), c[1] + KNOT_SIGMA * rng.normal(), c[2] + KNOT_SIGMA * rng.normal()]
            }
            FILAMENT if !self.filaments.is_empty() => {
                // Choose a filament with probability ∝ its length.
                let lengths: Vec<f64> = self.filaments.iter().map(|&[a, b]| norm(sub(self.nodes[a], self.nodes[b]))).collect();
                let total: f64 = lengths.iter().sum();
                let mut x = rng.uniform() * total;
                let mut k = 0;
                while k + 1 < lengths.len() && x > lengths[k] {
                    x -= lengths[k];
                    k += 1;
                }
                let [a, b] = self.filaments[k];
                let d = sub(self.nodes[b], self.nodes[a]);
                let (e1, e2) = perpendiculars(d);
                let base = add_scaled(self.nodes[a], d, rng.uniform());
                add_scaled(add_scaled(base, e1, FILAMENT_SIGMA * rng.normal()), e2, FILAMENT_SIGMA * rng.normal())
            }
            SHEET if !self.sheets.is_empty() => {
                let [a, b, c] = self.sheets[rng.below(self.sheets.len())];
                let (mut u, mut v) = (rng.uniform(), rng.uniform());
                if u + v > 1.0 {
                    u = 1.0 - u;
                    v = 1.0 - v;
                }
                let ab = sub(self.nodes[b], self.nodes[a]);
                let ac = sub(self.nodes[c], self.nodes[a]);
                let n = cross(ab, ac);
                let nn = norm(n);
                let base = add_scaled(add_scaled(self.nodes[a], ab, u), ac, v);
                add_scaled(base, [n[0] / nn, n[1] / nn, n[2] / nn], SHEET_SIGMA * rng.normal())
            }
            _ => {
                let p = fp.uniform_point(rng);
                if self.distance_to_filament(p) < VOID_CLEARANCE || self.nodes.iter().any(|&c| norm(sub(p, c)) < VOID_CLEARANCE) {
                    return None;
                }
                p
            }
        };
        fp.contains(p).then_some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_distance() {
        let d = point_segment_distance([0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [1.0, 0.0, 0.0]);
        assert!((d - 1.0).abs() < 1e-12);
        let d = point_segment_distance([3.0, 0.0, 4.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 0.0]);
        assert!((d - 5.0).abs() < 1e-12);
    }
}
