//! Persistence of the DTFE density on the Delaunay complex and the filament skeleton,
//! after Sousbie (2011, MNRAS 414, 350, "DisPerSE I") and Sousbie, Pichon & Kawahara
//! (2011, MNRAS 414, 384, "DisPerSE II"), written from the papers.
//!
//! The density is known at the vertices; a simplex enters the superlevel filtration
//! when its lowest-density vertex does (ties by vertex index), so every simplex has the
//! value of that vertex. In this filtration:
//! * vertices that create a component are density **maxima**; an edge that merges two
//!   components is a **2-saddle** paired with the younger maximum (elder rule) — a
//!   union–find sweep over the Delaunay edges;
//! * an edge that closes a loop is also a 2-saddle (of a *loop* filament) and is paired
//!   with the triangle (**1-saddle**) that fills the loop — found by reducing the
//!   edge–triangle boundary matrix over Z/2 (Edelsbrunner, Letscher & Zomorodian 2002),
//!   with the triangles that instead create voids removed first ("clearing"; Chen &
//!   Kerber 2011) by a union–find over the dual graph of tetrahedra in reverse order;
//! * a pair is cancelled when its persistence ratio (higher / lower density) is below
//!   the ratio that Poisson noise exceeds with the probability of an N σ Gaussian
//!   fluctuation (DisPerSE II, §3.3: p(N) = erfc(N/√2) and the fitted tails of the
//!   ratio distributions of a Poisson DTFE field; [`persistence_threshold`]).
//!
//! The skeleton: from each surviving 2-saddle, the steepest-ascent paths from both ends
//! of its edge up to maxima; a path that reaches a cancelled maximum continues through
//! the saddle that cancelled it to the maximum it was merged into. Each path is smoothed
//! (every interior point ← (p₋ + 2p + p₊)/4, `smooth_passes` times).

use ard_core::special::erfc;

use crate::delaunay::{Delaunay, NONE};

/// The three pair types of a 3-D density field, by the index of their lower critical point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairKind {
    /// (minimum, 1-saddle): tetrahedron–triangle.
    MinSaddle1,
    /// (1-saddle, 2-saddle): triangle–edge.
    Saddle1Saddle2,
    /// (2-saddle, maximum): edge–vertex.
    Saddle2Max,
}

/// Probability that a Poisson-noise pair of `kind` has persistence ratio above `r`
/// (DisPerSE II, fits to the DTFE of Poisson samples in 3-D; u = r − 1).
pub fn noise_tail(kind: PairKind, r: f64) -> f64 {
    let u = (r - 1.0).max(0.0);
    match kind {
        PairKind::MinSaddle1 => (-3.69381 * u - 0.44052 * u.powf(2.53805)).exp(),
        PairKind::Saddle1Saddle2 => {
            if u == 0.0 {
                return 1.0;
            }
            let t = 1.0 / (1.0 + (1.785 / u).powi(14));
            t * 4.0 * r.powi(-9) + (1.0 - t) * (-2.55393 * u).exp()
        }
        PairKind::Saddle2Max => (1.0 + 0.448993 * u).powf(-2.5633),
    }
}

/// The persistence ratio above which a pair of `kind` is significant at `n_sigma`:
/// the r with `noise_tail(kind, r)` = erfc(N/√2) (bisection; 3 σ gives 2.35, 2.89, 21.15).
pub fn persistence_threshold(kind: PairKind, n_sigma: f64) -> f64 {
    let p = erfc(n_sigma / std::f64::consts::SQRT_2);
    let (mut lo, mut hi) = (1.0, 1e6);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if noise_tail(kind, mid) > p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Settings of the skeleton.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkeletonConfig {
    /// Significance of the kept pairs, in Gaussian σ (DisPerSE's `-nsig`).
    pub n_sigma: f64,
    /// Smoothing passes over each arc.
    pub smooth_passes: usize,
    /// Smoothing passes over the density field before the persistence analysis.
    pub density_smooth: usize,
    /// Arcs whose 2-saddle density is below this multiple of the mean density are
    /// dropped (DisPerSE's `skelconv -trimBelow`, in units of the mean): a filament is an
    /// overdensity, and the low-threshold loops in walls and voids are not.
    pub trim_below: f64,
}

impl Default for SkeletonConfig {
    fn default() -> Self {
        SkeletonConfig { n_sigma: 1.5, smooth_passes: 3, density_smooth: 0, trim_below: 0.7 }
    }
}

/// One filament: a polyline from a maximum through a 2-saddle to a maximum.
#[derive(Debug, Clone, PartialEq)]
pub struct Arc {
    /// Smoothed positions.
    pub points: Vec<[f64; 3]>,
    /// Whether any vertex it passes through is on the convex hull.
    pub boundary: bool,
    /// The maxima it joins (input point indices).
    pub ends: [u32; 2],
    /// Density at its 2-saddle (the lower end of the saddle edge).
    pub saddle_density: f64,
    /// Position of that vertex.
    pub saddle_position: [f64; 3],
}

/// The result of the persistence analysis.
#[derive(Debug, Clone, Default)]
pub struct Skeleton {
    /// Filaments.
    pub arcs: Vec<Arc>,
    /// Surviving maxima (input point indices).
    pub nodes: Vec<u32>,
    /// Pair counts before cancellation: (2-saddle, max), (1-saddle, 2-saddle), (min, 1-saddle).
    pub pairs: [usize; 3],
    /// Surviving pairs of the same types.
    pub significant: [usize; 3],
    /// Ratio thresholds used.
    pub thresholds: [f64; 3],
    /// Loops no triangle filled (0 unless the complex is not a 3-ball; diagnostic).
    pub unfilled_loops: usize,
    /// Arcs dropped by `trim_below`.
    pub trimmed: usize,
}

struct UnionFind {
    parent: Vec<u32>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind { parent: (0..n as u32).collect() }
    }
    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }
}

/// Computes the persistence pairs and the skeleton of `rho` (one density per input
/// point of `del`; duplicates are ignored).
pub fn skeleton(del: &Delaunay, rho: &[f64], cfg: &SkeletonConfig) -> Skeleton {
    let n = del.n_input;
    let thr = [
        persistence_threshold(PairKind::Saddle2Max, cfg.n_sigma),
        persistence_threshold(PairKind::Saddle1Saddle2, cfg.n_sigma),
        persistence_threshold(PairKind::MinSaddle1, cfg.n_sigma),
    ];
    let f = Filtration::new(del, rho);
    let maxima = max_pairs(&f, thr[0]);
    let (clears_void, min_pairs, min_significant) = min_saddle1_pairs(&f, thr[2]);
    let (loop_pair, loop_pairs, loop_significant) = saddle_pairs(&f, &clears_void, thr[1]);

    // Surviving maxima and 2-saddles. A loop that no triangle fills would be an
    // essential cycle, impossible in a 3-ball: counted, never drawn.
    let surviving_max = |r: u32| maxima.is_max(&f, r as usize) && maxima.max_pair[r as usize].is_none_or(|(_, ratio)| ratio >= thr[0]);
    let nodes: Vec<u32> = (0..n as u32).filter(|&r| surviving_max(r) && del.duplicate_of[f.order[r as usize] as usize] == NONE).collect();
    let mut saddles: Vec<usize> = Vec::new();
    let mut unfilled_loops = 0;
    for ei in 0..f.edges.len() {
        if maxima.positive[ei] {
            match loop_pair[ei] {
                Some(ratio) if ratio >= thr[1] => saddles.push(ei),
                Some(_) => {}
                None => unfilled_loops += 1,
            }
        } else if maxima.edge_cancels[ei].is_some_and(|(_, ratio)| ratio >= thr[0]) {
            saddles.push(ei);
        }
    }
    let arcs = trace_arcs(del, &f, &maxima, &saddles, &surviving_max, cfg.smooth_passes);
    Skeleton {
        arcs,
        nodes: nodes.into_iter().map(|r| f.order[r as usize]).collect(),
        pairs: [maxima.pairs, loop_pairs, min_pairs],
        significant: [maxima.significant, loop_significant, min_significant],
        thresholds: thr,
        unfilled_loops,
        trimmed: 0,
    }
}

/// The lower-star filtration of the tessellation by density: vertices by rank
/// (0 = densest; duplicates, not in the tessellation, last), and edges and triangles
/// keyed by their vertices' ranks in descending order, sorted — the order they enter.
struct Filtration<'a> {
    rho: &'a [f64],
    order: Vec<u32>,
    rank: Vec<u32>,
    tets: Vec<[u32; 4]>,
    edges: Vec<[u32; 2]>,
    tris: Vec<[u32; 3]>,
}

/// `k` sorted descending.
fn desc(mut k: Vec<u32>) -> Vec<u32> {
    k.sort_unstable_by(|a, b| b.cmp(a));
    k
}

impl<'a> Filtration<'a> {
    fn new(del: &Delaunay, rho: &'a [f64]) -> Self {
        let n = del.n_input;
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by(|&a, &b| rho[b as usize].total_cmp(&rho[a as usize]).then(a.cmp(&b)));
        let mut rank = vec![0u32; n];
        for (r, &v) in order.iter().enumerate() {
            rank[v as usize] = r as u32;
        }
        let tets: Vec<[u32; 4]> = del.finite_tets().map(|t| del.tets[t]).collect();
        let mut edges: Vec<[u32; 2]> = Vec::with_capacity(tets.len() * 2);
        let mut tris: Vec<[u32; 3]> = Vec::with_capacity(tets.len() * 2);
        for t in &tets {
            let r = t.map(|v| rank[v as usize]);
            for a in 0..4 {
                for b in a + 1..4 {
                    let k = desc(vec![r[a], r[b]]);
                    edges.push([k[0], k[1]]);
                }
                let k = desc((0..4).filter(|&j| j != a).map(|j| r[j]).collect());
                tris.push([k[0], k[1], k[2]]);
            }
        }
        edges.sort_unstable();
        edges.dedup();
        tris.sort_unstable();
        tris.dedup();
        Filtration { rho, order, rank, tets, edges, tris }
    }

    /// The density of the vertex of rank `r`.
    fn f_rank(&self, r: u32) -> f64 {
        self.rho[self.order[r as usize] as usize]
    }

    fn edge_index(&self, e: [u32; 2]) -> u32 {
        self.edges.binary_search(&e).unwrap_or(usize::MAX) as u32
    }
}

/// The (2-saddle, maximum) pairs, by union–find over ranks with the edges in order.
struct MaxPairs {
    /// Edges that close a loop instead of joining two components.
    positive: Vec<bool>,
    /// By rank: the edge that merged the vertex's component into an older one, and the
    /// pair's persistence ratio.
    max_pair: Vec<Option<(u32, f64)>>,
    /// By rank: the merging edge's ends (own side, other side).
    cancel_via: Vec<Option<(u32, u32)>>,
    /// Of a negative edge: (maximum, ratio) of the pair it ends.
    edge_cancels: Vec<Option<(u32, f64)>>,
    pairs: usize,
    significant: usize,
}

impl MaxPairs {
    fn is_max(&self, f: &Filtration, r: usize) -> bool {
        self.max_pair[r].is_none_or(|(e, _)| f.edges[e as usize][0] != r as u32)
    }
}

fn max_pairs(f: &Filtration, thr: f64) -> MaxPairs {
    let n = f.order.len();
    let mut uf = UnionFind::new(n);
    let mut m = MaxPairs {
        positive: vec![false; f.edges.len()],
        max_pair: vec![None; n],
        cancel_via: vec![None; n],
        edge_cancels: vec![None; f.edges.len()],
        pairs: 0,
        significant: 0,
    };
    for (ei, &[hi, lo]) in f.edges.iter().enumerate() {
        // hi is the later (lower-density) vertex: the edge enters with it.
        let (a, b) = (uf.find(hi), uf.find(lo));
        if a == b {
            m.positive[ei] = true;
            continue;
        }
        // A component's root is its densest vertex (roots only ever absorb younger ones).
        let (young, old, young_side, old_side) = if a > b { (a, b, hi, lo) } else { (b, a, lo, hi) };
        let ratio = f.f_rank(young) / f.f_rank(hi).max(f64::MIN_POSITIVE);
        m.max_pair[young as usize] = Some((ei as u32, ratio));
        m.cancel_via[young as usize] = Some((young_side, old_side));
        uf.parent[young as usize] = old;
        // A vertex that joins a denser neighbour at once is regular, not a maximum.
        if young != hi {
            m.edge_cancels[ei] = Some((young, ratio));
            m.pairs += 1;
            if ratio >= thr {
                m.significant += 1;
            }
        }
    }
    m
}

/// The (minimum, 1-saddle) pairs by duality: tetrahedra in reverse order, triangles
/// joining them. Returns which triangles clear a void, the pairs and the significant.
fn min_saddle1_pairs(f: &Filtration, thr: f64) -> (Vec<bool>, usize, usize) {
    let mut tet_keys: Vec<[u32; 4]> = f
        .tets
        .iter()
        .map(|t| {
            let k = desc(t.iter().map(|&v| f.rank[v as usize]).collect());
            [k[0], k[1], k[2], k[3]]
        })
        .collect();
    tet_keys.sort_unstable();
    let outside = tet_keys.len() as u32;
    let mut tri_cofaces: Vec<[u32; 2]> = vec![[outside, outside]; f.tris.len()];
    let mut fill = vec![0u8; f.tris.len()];
    for (ti, k) in tet_keys.iter().enumerate() {
        for skip in 0..4 {
            let face: Vec<u32> = (0..4).filter(|&j| j != skip).map(|j| k[j]).collect();
            if let Ok(x) = f.tris.binary_search(&[face[0], face[1], face[2]]) {
                tri_cofaces[x][fill[x] as usize] = ti as u32;
                fill[x] += 1;
            }
        }
    }
    let mut duf = UnionFind::new(tet_keys.len() + 1);
    let mut clears_void = vec![false; f.tris.len()];
    let (mut pairs, mut significant) = (0, 0);
    for x in (0..f.tris.len()).rev() {
        let [p, q] = tri_cofaces[x];
        let (a, b) = (duf.find(p), duf.find(q));
        if a == b {
            continue;
        }
        // A dual component's root is its latest tetrahedron (the outside is the latest of all).
        let (young, old) = if a < b { (a, b) } else { (b, a) };
        clears_void[x] = true;
        pairs += 1;
        let tv = f.f_rank(f.tris[x][0]) / f.f_rank(tet_keys[young as usize][0]).max(f64::MIN_POSITIVE);
        if tv >= thr {
            significant += 1;
        }
        duf.parent[young as usize] = old;
    }
    (clears_void, pairs, significant)
}

/// The (1-saddle, 2-saddle) pairs: the remaining triangle columns reduced over GF(2).
/// Returns, per edge, the ratio of the loop it opens (None: unpaired), the pairs and
/// the significant.
fn saddle_pairs(f: &Filtration, clears_void: &[bool], thr: f64) -> (Vec<Option<f64>>, usize, usize) {
    let mut owner: Vec<u32> = vec![NONE; f.edges.len()];
    let mut reduced: Vec<Vec<u32>> = Vec::new();
    let mut loop_pair: Vec<Option<f64>> = vec![None; f.edges.len()];
    let (mut pairs, mut significant) = (0, 0);
    for (x, t) in f.tris.iter().enumerate() {
        if clears_void[x] {
            continue;
        }
        let mut col: Vec<u32> = vec![f.edge_index([t[0], t[1]]), f.edge_index([t[0], t[2]]), f.edge_index([t[1], t[2]])];
        col.sort_unstable();
        while let Some(&low) = col.last() {
            let o = owner[low as usize];
            if o == NONE {
                owner[low as usize] = reduced.len() as u32;
                let ratio = f.f_rank(f.edges[low as usize][0]) / f.f_rank(t[0]).max(f64::MIN_POSITIVE);
                loop_pair[low as usize] = Some(ratio);
                pairs += 1;
                if ratio >= thr {
                    significant += 1;
                }
                reduced.push(col);
                break;
            }
            col = symmetric_difference(&col, &reduced[o as usize]);
        }
    }
    (loop_pair, pairs, significant)
}

/// The arcs from each surviving saddle edge up to surviving maxima, by steepest ascent
/// on the vertex graph: to the denser neighbour with the largest slope of ln ρ per Mpc
/// (not simply the densest neighbour, which in sparse regions can lie several Mpc off
/// the ridge); a cancelled maximum is passed through via the edge that cancelled it.
fn trace_arcs(
    del: &Delaunay,
    f: &Filtration,
    maxima: &MaxPairs,
    saddles: &[usize],
    surviving_max: &dyn Fn(u32) -> bool,
    smooth_passes: usize,
) -> Vec<Arc> {
    let n = f.order.len();
    let pos = |r: u32| del.points[f.order[r as usize] as usize];
    let mut hull = vec![false; n];
    for (v, h) in del.hull_flags().iter().enumerate() {
        hull[f.rank[v] as usize] = *h;
    }
    let mut denser: Vec<Vec<u32>> = vec![Vec::new(); n];
    for e in &f.edges {
        denser[e[0] as usize].push(e[1]);
    }
    let slope = |from: u32, to: u32| {
        let (a, b) = (pos(from), pos(to));
        let d = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt().max(1e-9);
        (f.f_rank(to).max(f64::MIN_POSITIVE).ln() - f.f_rank(from).max(f64::MIN_POSITIVE).ln()) / d
    };
    // `below`: only neighbours denser than this rank (the side of a saddle edge the
    // entering vertex belongs to when the edge enters).
    let step = |r: u32, below: u32| -> Option<u32> {
        denser[r as usize].iter().copied().filter(|&w| w < below).max_by(|&a, &b| slope(r, a).total_cmp(&slope(r, b)).then(b.cmp(&a)))
    };
    let up: Vec<u32> = (0..n as u32).map(|r| step(r, u32::MAX).unwrap_or(r)).collect();
    let ascend_from = |start: u32, below: u32| -> Vec<u32> {
        let mut path = vec![start];
        let mut r = match step(start, below) {
            Some(w) => w,
            None => return path,
        };
        path.push(r);
        while up[r as usize] != r {
            r = up[r as usize];
            path.push(r);
        }
        path
    };
    // From one end of an edge into the component it was in when the edge entered: the
    // later (entering) end may only step to neighbours denser than the other end.
    let from_edge_end = |x: u32, other: u32| ascend_from(x, if x > other { other } else { u32::MAX });
    let arc_to_node = |start: u32, other: u32| -> Vec<u32> {
        let mut path = from_edge_end(start, other);
        let mut guard = 0;
        while let Some(&top) = path.last() {
            if surviving_max(top) || guard > 64 {
                break;
            }
            guard += 1;
            let Some((own, far)) = maxima.cancel_via[top as usize] else { break };
            let mut back = from_edge_end(own, far);
            back.reverse();
            path.extend(back.into_iter().skip_while(|&r| r == top));
            path.extend(from_edge_end(far, own));
        }
        path
    };
    let mut arcs = Vec::with_capacity(saddles.len());
    for &ei in saddles {
        let [hi, lo] = f.edges[ei];
        let mut a = arc_to_node(hi, lo);
        let b = arc_to_node(lo, hi);
        a.reverse();
        a.extend(b);
        let boundary = a.iter().any(|&r| hull[r as usize]);
        let ends = [f.order[a[0] as usize], f.order[a[a.len() - 1] as usize]];
        let mut pts: Vec<[f64; 3]> = a.iter().map(|&r| pos(r)).collect();
        pts.dedup();
        smooth(&mut pts, smooth_passes);
        arcs.push(Arc { points: pts, boundary, ends, saddle_density: f.f_rank(hi), saddle_position: pos(hi) });
    }
    arcs
}

fn symmetric_difference(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// `passes` times, each interior point ← (p₋ + 2p + p₊)/4 (DisPerSE's `-smooth`).
pub fn smooth(points: &mut [[f64; 3]], passes: usize) {
    if points.len() < 3 {
        return;
    }
    let mut prev = points.to_vec();
    for _ in 0..passes {
        prev.copy_from_slice(points);
        for i in 1..points.len() - 1 {
            for k in 0..3 {
                points[i][k] = 0.25 * (prev[i - 1][k] + 2.0 * prev[i][k] + prev[i + 1][k]);
            }
        }
    }
}
