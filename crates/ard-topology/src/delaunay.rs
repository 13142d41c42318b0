//! 3-D Delaunay tetrahedralisation by incremental insertion (Bowyer 1981, Comput. J. 24,
//! 162; Watson 1981, Comput. J. 24, 167): each point is located by a visibility walk,
//! the tetrahedra whose circumspheres contain it (the cavity) are removed and the
//! cavity's boundary is joined to it. The decisions use Shewchuk's (1997) adaptive exact
//! `orient3d` and `insphere` predicates (the `robust` crate), so round-off never makes
//! the triangulation inconsistent; points are inserted in Morton (Z-curve) order so that
//! each walk is short. An enclosing tetrahedron far outside the points starts the
//! construction; simplices that touch it are not part of the result, and the points
//! that touch it are on the convex hull (flagged: their density and their topology are
//! unreliable).

use robust::{insphere, orient3d, Coord3D};

/// "No neighbour" in [`Delaunay::adj`].
pub const NONE: u32 = u32::MAX;

/// A Delaunay tetrahedralisation of a point set.
#[derive(Debug, Clone)]
pub struct Delaunay {
    /// The input points, then the four vertices of the enclosing tetrahedron.
    pub points: Vec<[f64; 3]>,
    /// Number of input points.
    pub n_input: usize,
    /// Tetrahedra (vertex indices, positively oriented); dead slots have `alive` false.
    pub tets: Vec<[u32; 4]>,
    /// Neighbour across the face opposite each vertex.
    pub adj: Vec<[u32; 4]>,
    /// Whether a slot holds a tetrahedron of the triangulation.
    pub alive: Vec<bool>,
    /// For each input point, the index of an identical earlier point (`NONE` if unique):
    /// duplicates are not inserted.
    pub duplicate_of: Vec<u32>,
}

fn c(p: &[f64; 3]) -> Coord3D<f64> {
    Coord3D { x: p[0], y: p[1], z: p[2] }
}

/// Interleaves the low 21 bits of x, y, z (Morton order).
fn morton(x: u64, y: u64, z: u64) -> u64 {
    fn spread(mut v: u64) -> u64 {
        v &= 0x1f_ffff;
        v = (v | v << 32) & 0x1f00000000ffff;
        v = (v | v << 16) & 0x1f0000ff0000ff;
        v = (v | v << 8) & 0x100f00f00f00f00f;
        v = (v | v << 4) & 0x10c30c30c30c30c3;
        (v | v << 2) & 0x1249249249249249
    }
    spread(x) | spread(y) << 1 | spread(z) << 2
}

/// Whether some 4 of the points are not coplanar.
fn spans_three_dimensions(points: &[[f64; 3]]) -> bool {
    let p0 = points[0];
    let Some(p1) = points.iter().find(|p| **p != p0) else { return false };
    let cross = |a: &[f64; 3]| {
        let (u, v) = ([p1[0] - p0[0], p1[1] - p0[1], p1[2] - p0[2]], [a[0] - p0[0], a[1] - p0[1], a[2] - p0[2]]);
        [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]]
    };
    // Exact collinearity is decided by orient3d against a point off the line below.
    let Some(p2) = points.iter().find(|a| cross(a) != [0.0; 3]) else { return false };
    points.iter().any(|p3| orient3d(c(&p0), c(p1), c(p2), c(p3)) != 0.0)
}

/// Why a tessellation cannot be built.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DelaunayError {
    /// Fewer than 4 distinct points, or all coplanar.
    #[error("need at least 4 distinct, non-coplanar points (got {0})")]
    Degenerate(usize),
    /// A coordinate is NaN or infinite.
    #[error("point {0} has a non-finite coordinate")]
    NonFinite(usize),
}

impl Delaunay {
    /// Tessellates `points`.
    pub fn new(points: &[[f64; 3]]) -> Result<Self, DelaunayError> {
        let n = points.len();
        if let Some(bad) = points.iter().position(|p| p.iter().any(|v| !v.is_finite())) {
            return Err(DelaunayError::NonFinite(bad));
        }
        if n < 4 {
            return Err(DelaunayError::Degenerate(n));
        }
        let (lo, hi) = crate::geometry::bounding_box(points);
        if !spans_three_dimensions(points) {
            return Err(DelaunayError::Degenerate(n));
        }
        let span = (0..3).map(|k| hi[k] - lo[k]).fold(0.0, f64::max).max(1e-9);
        let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0, (lo[2] + hi[2]) / 2.0];
        // Morton order; exact duplicates are found as neighbours in the same order.
        let q = |v: f64, k: usize| (((v - lo[k]) / span) * ((1u64 << 21) - 1) as f64) as u64;
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by_key(|&i| {
            let p = points[i as usize];
            (morton(q(p[0], 0), q(p[1], 1), q(p[2], 2)), p[0].to_bits(), p[1].to_bits(), p[2].to_bits(), i)
        });
        let mut duplicate_of = vec![NONE; n];
        for w in order.windows(2) {
            if points[w[0] as usize] == points[w[1] as usize] {
                let first = if duplicate_of[w[0] as usize] == NONE { w[0] } else { duplicate_of[w[0] as usize] };
                duplicate_of[w[1] as usize] = first;
            }
        }
        // The enclosing tetrahedron: a regular one around a sphere 10⁴ × the extent.
        let r = 1e4 * span;
        let mut all = points.to_vec();
        let s = [[1.0, 1.0, 1.0], [1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]];
        for v in s {
            all.push([centre[0] + 3.0 * r * v[0], centre[1] + 3.0 * r * v[1], centre[2] + 3.0 * r * v[2]]);
        }
        let sv = [n as u32, n as u32 + 1, n as u32 + 2, n as u32 + 3];
        let first =
            if orient3d(c(&all[n]), c(&all[n + 1]), c(&all[n + 2]), c(&all[n + 3])) > 0.0 { sv } else { [sv[0], sv[2], sv[1], sv[3]] };
        let mut d = Delaunay { points: all, n_input: n, tets: vec![first], adj: vec![[NONE; 4]], alive: vec![true], duplicate_of };
        let mut state = Insertion::default();
        for &i in &order {
            if d.duplicate_of[i as usize] == NONE {
                d.insert(i, &mut state);
            }
        }
        if d.finite_tets().next().is_none() {
            return Err(DelaunayError::Degenerate(n));
        }
        Ok(d)
    }

    #[cfg(test)]
    fn orient(&self, t: &[u32; 4]) -> f64 {
        let p = &self.points;
        orient3d(c(&p[t[0] as usize]), c(&p[t[1] as usize]), c(&p[t[2] as usize]), c(&p[t[3] as usize]))
    }

    fn in_sphere(&self, t: usize, p: &[f64; 3]) -> bool {
        let v = &self.tets[t];
        let q = &self.points;
        insphere(c(&q[v[0] as usize]), c(&q[v[1] as usize]), c(&q[v[2] as usize]), c(&q[v[3] as usize]), c(p)) > 0.0
    }

    /// The tetrahedron containing `p` (visibility walk with a pseudo-random face order,
    /// which cannot cycle: Devillers, Pion & Teillaud 2002).
    fn locate(&self, p: &[f64; 3], start: usize, rng: &mut u64) -> usize {
        let mut t = start;
        'walk: loop {
            *rng ^= *rng << 13;
            *rng ^= *rng >> 7;
            *rng ^= *rng << 17;
            let off = (*rng % 4) as usize;
            for f in 0..4 {
                let k = (f + off) % 4;
                let mut v = self.tets[t];
                v[k] = u32::MAX;
                let pts: [Coord3D<f64>; 4] = std::array::from_fn(|j| if j == k { c(p) } else { c(&self.points[v[j] as usize]) });
                if orient3d(pts[0], pts[1], pts[2], pts[3]) < 0.0 {
                    let next = self.adj[t][k];
                    if next != NONE {
                        t = next as usize;
                        continue 'walk;
                    }
                }
            }
            return t;
        }
    }

    fn insert(&mut self, pi: u32, st: &mut Insertion) {
        let p = self.points[pi as usize];
        let start =
            if st.last < self.tets.len() && self.alive[st.last] { st.last } else { self.alive.iter().position(|&a| a).unwrap_or(0) };
        let t0 = self.locate(&p, start, &mut st.rng);
        st.stamp += 1;
        if st.mark.len() < self.tets.len() {
            st.mark.resize(self.tets.len(), 0);
        }
        st.cavity.clear();
        st.boundary.clear();
        st.cavity.push(t0);
        st.mark[t0] = st.stamp;
        let mut i = 0;
        while i < st.cavity.len() {
            let t = st.cavity[i];
            i += 1;
            for k in 0..4 {
                let nb = self.adj[t][k];
                if nb != NONE && st.mark[nb as usize] == st.stamp {
                    continue;
                }
                if nb != NONE && self.in_sphere(nb as usize, &p) {
                    st.mark[nb as usize] = st.stamp;
                    st.cavity.push(nb as usize);
                } else {
                    st.boundary.push((t, k, nb));
                }
            }
        }
        // One new tetrahedron per boundary face: the old one with vertex k replaced by p
        // (same orientation, since the cavity is star-shaped around p).
        st.edges.clear();
        let mut free: Vec<usize> = st.cavity.clone();
        let mut created = Vec::with_capacity(st.boundary.len());
        for &(t, k, nb) in &st.boundary {
            let mut v = self.tets[t];
            v[k] = pi;
            created.push((v, k, nb));
        }
        for t in &free {
            self.alive[*t] = false;
        }
        for (v, k, nb) in created {
            let slot = match free.pop() {
                Some(s) => {
                    self.tets[s] = v;
                    self.adj[s] = [NONE; 4];
                    self.alive[s] = true;
                    s
                }
                None => {
                    self.tets.push(v);
                    self.adj.push([NONE; 4]);
                    self.alive.push(true);
                    st.mark.push(0);
                    self.tets.len() - 1
                }
            };
            self.adj[slot][k] = nb;
            if nb != NONE {
                let back = &mut self.adj[nb as usize];
                // The outside neighbour pointed at the removed tetrahedron through the face
                // opposite the vertex of its own that is not on the face.
                let w = self.tets[nb as usize];
                let face: [u32; 3] = [v[(k + 1) % 4], v[(k + 2) % 4], v[(k + 3) % 4]];
                for j in 0..4 {
                    if !face.contains(&w[j]) {
                        back[j] = slot as u32;
                    }
                }
            }
            // Faces through p: matched with the other new tetrahedron on the same edge.
            for j in 0..4 {
                if j == k {
                    continue;
                }
                let others: Vec<u32> = (0..4).filter(|&m| m != j && m != k).map(|m| v[m]).collect();
                let key = (others[0].min(others[1]), others[0].max(others[1]));
                if let Some(pos) = st.edges.iter().position(|e| e.0 == key) {
                    let (_, ot, oj) = st.edges.swap_remove(pos);
                    self.adj[slot][j] = ot as u32;
                    self.adj[ot][oj] = slot as u32;
                } else {
                    st.edges.push((key, slot, j));
                }
            }
            st.last = slot;
        }
        debug_assert!(st.edges.is_empty(), "unmatched faces in the cavity of point {pi}");
    }

    /// Indices of the live tetrahedra with no vertex of the enclosing tetrahedron.
    pub fn finite_tets(&self) -> impl Iterator<Item = usize> + '_ {
        let n = self.n_input as u32;
        (0..self.tets.len()).filter(move |&t| self.alive[t] && self.tets[t].iter().all(|&v| v < n))
    }

    /// Volume of tetrahedron `t`.
    pub fn volume(&self, t: usize) -> f64 {
        let v = self.tets[t].map(|i| self.points[i as usize]);
        let a = [v[1][0] - v[0][0], v[1][1] - v[0][1], v[1][2] - v[0][2]];
        let b = [v[2][0] - v[0][0], v[2][1] - v[0][1], v[2][2] - v[0][2]];
        let d = [v[3][0] - v[0][0], v[3][1] - v[0][1], v[3][2] - v[0][2]];
        (a[0] * (b[1] * d[2] - b[2] * d[1]) - a[1] * (b[0] * d[2] - b[2] * d[0]) + a[2] * (b[0] * d[1] - b[1] * d[0])).abs() / 6.0
    }

    /// Points on the convex hull (they touch the enclosing tetrahedron).
    pub fn hull_flags(&self) -> Vec<bool> {
        let n = self.n_input as u32;
        let mut hull = vec![false; self.n_input];
        for t in 0..self.tets.len() {
            if self.alive[t] && self.tets[t].iter().any(|&v| v >= n) {
                for &v in &self.tets[t] {
                    if v < n {
                        hull[v as usize] = true;
                    }
                }
            }
        }
        hull
    }

    /// Delaunay Tessellation Field Estimator density at each point (Schaap & van de
    /// Weygaert 2000, A&A 363, L29, eq. 2 in 3-D): ρ_i = 4 / Σ V(tetrahedra around i).
    /// Duplicates get their kept point's density.
    pub fn dtfe_density(&self) -> Vec<f64> {
        let mut star = vec![0.0; self.n_input];
        for t in self.finite_tets() {
            let v = self.volume(t);
            for &i in &self.tets[t] {
                star[i as usize] += v;
            }
        }
        (0..self.n_input)
            .map(|i| {
                let k = if self.duplicate_of[i] == NONE { i } else { self.duplicate_of[i] as usize };
                if star[k] > 0.0 {
                    4.0 / star[k]
                } else {
                    0.0
                }
            })
            .collect()
    }
}

impl Delaunay {
    /// The Delaunay neighbours of every input point (finite tetrahedra only).
    pub fn neighbours(&self) -> Vec<Vec<u32>> {
        let mut nb: Vec<Vec<u32>> = vec![Vec::new(); self.n_input];
        for t in self.finite_tets() {
            let v = self.tets[t];
            for a in 0..4 {
                for b in 0..4 {
                    if a != b {
                        nb[v[a] as usize].push(v[b]);
                    }
                }
            }
        }
        for l in &mut nb {
            l.sort_unstable();
            l.dedup();
        }
        nb
    }

    /// `passes` times, each point's value ← the mean over it and its Delaunay
    /// neighbours (DisPerSE's `delaunay_3D -smooth`): it damps the shot noise of the DTFE
    /// density before the topology is computed.
    pub fn smooth_field(&self, values: &[f64], passes: usize) -> Vec<f64> {
        if passes == 0 {
            return values.to_vec();
        }
        let nb = self.neighbours();
        let mut cur = values.to_vec();
        for _ in 0..passes {
            cur = (0..self.n_input)
                .map(|i| {
                    if nb[i].is_empty() {
                        cur[i]
                    } else {
                        (cur[i] + nb[i].iter().map(|&j| cur[j as usize]).sum::<f64>()) / (nb[i].len() + 1) as f64
                    }
                })
                .collect();
        }
        for i in 0..self.n_input {
            if self.duplicate_of[i] != NONE {
                cur[i] = cur[self.duplicate_of[i] as usize];
            }
        }
        cur
    }
}

#[derive(Default)]
struct Insertion {
    last: usize,
    rng: u64,
    stamp: u32,
    mark: Vec<u32>,
    cavity: Vec<usize>,
    boundary: Vec<(usize, usize, u32)>,
    edges: Vec<((u32, u32), usize, usize)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_points(n: usize, seed: u64) -> Vec<[f64; 3]> {
        let mut u = crate::test_rng::uniform(seed);
        (0..n).map(|_| [u() * 10.0, u() * 10.0, u() * 10.0]).collect()
    }

    fn check_consistent(d: &Delaunay) {
        for t in 0..d.tets.len() {
            if !d.alive[t] {
                continue;
            }
            assert!(d.orient(&d.tets[t]) > 0.0, "tet {t} not positively oriented");
            for k in 0..4 {
                let nb = d.adj[t][k];
                if nb == NONE {
                    continue;
                }
                assert!(d.alive[nb as usize], "tet {t} points at a dead neighbour");
                assert!(d.adj[nb as usize].contains(&(t as u32)), "adjacency of {t} and {nb} not symmetric");
                let face: Vec<u32> = (0..4).filter(|&j| j != k).map(|j| d.tets[t][j]).collect();
                assert!(face.iter().all(|v| d.tets[nb as usize].contains(v)), "neighbour does not share the face");
            }
        }
    }

    #[test]
    fn empty_sphere_property_holds_exactly() {
        let pts = random_points(300, 7);
        let d = Delaunay::new(&pts).unwrap();
        check_consistent(&d);
        // Every finite tetrahedron's circumsphere is empty of every input point.
        for t in d.finite_tets() {
            for (i, p) in pts.iter().enumerate() {
                if d.tets[t].contains(&(i as u32)) {
                    continue;
                }
                assert!(!d.in_sphere(t, p), "point {i} inside the circumsphere of tet {t}");
            }
        }
        // The finite tetrahedra fill the convex hull: their volumes add to the hull's
        // volume, which for 300 uniform points is close to the box's.
        let vol: f64 = d.finite_tets().map(|t| d.volume(t)).sum();
        assert!(vol > 800.0 && vol <= 1000.0 + 1e-9, "{vol}");
    }

    #[test]
    fn tetrahedron_count_follows_euler_for_a_cube_lattice_with_jitter() {
        // 5 × 5 × 5 lattice, slightly jittered so that no 5 points are cospherical.
        let mut pts = Vec::new();
        let jitter = random_points(125, 3);
        for (n, j) in jitter.iter().enumerate() {
            let (i, k, l) = (n % 5, (n / 5) % 5, n / 25);
            pts.push([i as f64 + 1e-3 * j[0], k as f64 + 1e-3 * j[1], l as f64 + 1e-3 * j[2]]);
        }
        let d = Delaunay::new(&pts).unwrap();
        check_consistent(&d);
        let vol: f64 = d.finite_tets().map(|t| d.volume(t)).sum();
        // The hull of the jittered lattice (jitter < 0.01) lies between 4³ and 4.01³.
        assert!(vol > 64.0 - 1e-9 && vol < 64.49, "hull volume {vol}");
        // Euler characteristic of a 3-ball: V − E + F − T = 1.
        let mut edges = std::collections::BTreeSet::new();
        let mut faces = std::collections::BTreeSet::new();
        let mut tets = 0;
        for t in d.finite_tets() {
            tets += 1;
            let v = d.tets[t];
            for a in 0..4 {
                for b in a + 1..4 {
                    edges.insert((v[a].min(v[b]), v[a].max(v[b])));
                }
                let mut f: Vec<u32> = (0..4).filter(|&j| j != a).map(|j| v[j]).collect();
                f.sort();
                faces.insert(f);
            }
        }
        assert_eq!(125 - edges.len() as i64 + faces.len() as i64 - tets, 1);
    }

    #[test]
    fn duplicates_and_bad_input() {
        let mut pts = random_points(50, 9);
        pts.push(pts[10]);
        let d = Delaunay::new(&pts).unwrap();
        assert_eq!(d.duplicate_of[50], 10);
        let rho = d.dtfe_density();
        assert_eq!(rho[50], rho[10]);
        assert_eq!(Delaunay::new(&pts[..3]).unwrap_err(), DelaunayError::Degenerate(3));
        let mut bad = pts.clone();
        bad[4][1] = f64::NAN;
        assert_eq!(Delaunay::new(&bad).unwrap_err(), DelaunayError::NonFinite(4));
        let flat: Vec<[f64; 3]> = (0..20).map(|i| [i as f64, (i * i % 7) as f64, 0.0]).collect();
        assert_eq!(Delaunay::new(&flat).unwrap_err(), DelaunayError::Degenerate(20));
    }

    #[test]
    fn dtfe_density_of_a_uniform_field_is_its_number_density() {
        // 4000 points in a 10³ box: n = 4 /Mpc³ inside (hull points excluded).
        let pts = random_points(4000, 21);
        let d = Delaunay::new(&pts).unwrap();
        let rho = d.dtfe_density();
        let hull = d.hull_flags();
        let inner: Vec<f64> = pts.iter().zip(&rho).filter(|(p, _)| p.iter().all(|&x| x > 2.0 && x < 8.0)).map(|(_, r)| *r).collect();
        // The stars of the tetrahedra cover the volume four times, so the mean of 1/ρ is
        // the mean volume per point; the arithmetic mean of ρ is biased high (Jensen).
        let harmonic = inner.len() as f64 / inner.iter().map(|r| 1.0 / r).sum::<f64>();
        assert!((harmonic / 4.0 - 1.0).abs() < 0.05, "harmonic-mean DTFE density {harmonic}");
        assert!(hull.iter().filter(|&&h| h).count() < 400);
    }
}
