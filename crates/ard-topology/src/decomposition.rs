//! Cutting a survey volume into overlapping sub-volumes: the grid closest to cubes and
//! the cell of each point. The topology is computed per sub-volume (each fits in one
//! node's memory) and stitched; the buffer that makes the sub-volumes overlap is the
//! caller's choice (`ard_ingest::topology`, 40 Mpc by default).

/// The grid nx × ny × nz = n whose cells are closest to cubes for a box of `extent`.
pub fn grid_for(n: usize, extent: [f64; 3]) -> [usize; 3] {
    let mut best = [n, 1, 1];
    let mut best_score = f64::INFINITY;
    for nx in 1..=n {
        if !n.is_multiple_of(nx) {
            continue;
        }
        for ny in 1..=n / nx {
            if !(n / nx).is_multiple_of(ny) {
                continue;
            }
            let nz = n / nx / ny;
            let cell = [extent[0] / nx as f64, extent[1] / ny as f64, extent[2] / nz as f64];
            let (lo, hi) = (cell.iter().cloned().fold(f64::INFINITY, f64::min), cell.iter().cloned().fold(0.0, f64::max));
            let score = hi / lo.max(1e-9);
            if score < best_score - 1e-12 {
                best_score = score;
                best = [nx, ny, nz];
            }
        }
    }
    best
}

/// The bounding box of a point set cut into `n` cells (a [`grid_for`] grid). A cell's
/// sub-volume is the cell grown by a buffer on every side; each point belongs to
/// exactly one cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Cells {
    /// Lower corner of the box.
    pub lo: [f64; 3],
    /// Edge lengths of one cell.
    pub size: [f64; 3],
    /// Cells along each axis.
    pub grid: [usize; 3],
}

impl Cells {
    /// `n` cells over the bounding box of `points`.
    pub fn new(points: &[[f64; 3]], n: usize) -> Self {
        let (lo, hi) = crate::geometry::bounding_box(points);
        let extent: [f64; 3] = std::array::from_fn(|k| (hi[k] - lo[k]).max(1e-6));
        let grid = grid_for(n, extent);
        Cells { lo, size: std::array::from_fn(|k| extent[k] / grid[k] as f64), grid }
    }
    /// The cell holding `p` (points outside the box go to the nearest cell).
    pub fn cell_of(&self, p: &[f64; 3]) -> usize {
        let c: [usize; 3] = std::array::from_fn(|k| (((p[k] - self.lo[k]) / self.size[k]).floor().max(0.0) as usize).min(self.grid[k] - 1));
        (c[2] * self.grid[1] + c[1]) * self.grid[0] + c[0]
    }
    /// Whether `p` lies in cell `cell` grown by `buffer` on every side.
    pub fn in_extended(&self, cell: usize, p: &[f64; 3], buffer: f64) -> bool {
        let c = [cell % self.grid[0], (cell / self.grid[0]) % self.grid[1], cell / (self.grid[0] * self.grid[1])];
        (0..3).all(|k| {
            let a = self.lo[k] + c[k] as f64 * self.size[k] - buffer;
            let b = self.lo[k] + (c[k] + 1) as f64 * self.size[k] + buffer;
            p[k] >= a && p[k] <= b
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_is_as_cubic_as_possible() {
        assert_eq!(grid_for(8, [100.0, 100.0, 100.0]), [2, 2, 2]);
        assert_eq!(grid_for(1, [1.0, 5.0, 9.0]), [1, 1, 1]);
        assert_eq!(grid_for(4, [10.0, 10.0, 100.0]), [1, 1, 4]);
        assert_eq!(grid_for(6, [60.0, 60.0, 120.0]).iter().product::<usize>(), 6);
    }

    #[test]
    fn every_point_has_one_cell_and_buffers_overlap() {
        let pts: Vec<[f64; 3]> = (0..64).map(|i| [(i % 4) as f64, ((i / 4) % 4) as f64, (i / 16) as f64 * 2.0]).collect();
        let cells = Cells::new(&pts, 4);
        assert_eq!(cells.grid.iter().product::<usize>(), 4);
        for p in &pts {
            let c = cells.cell_of(p);
            assert!(c < 4 && cells.in_extended(c, p, 0.0));
        }
        // A point on a cell boundary is inside the neighbour's buffered sub-volume.
        let k = (0..3).find(|&k| cells.grid[k] > 1).expect("4 cells split some axis");
        let mut edge = cells.lo;
        edge[k] += cells.size[k];
        let owner = cells.cell_of(&edge);
        assert!((0..4).filter(|&c| c != owner).any(|c| cells.in_extended(c, &edge, 0.5)));
    }
}
