//! The simulated survey volume: a set of nside-64 HEALPix pixels between two
//! redshifts, in comoving coordinates of the project cosmology.

use ard_core::cosmology::PLANCK18;

use crate::rng::Rng;

/// Sky pixels × redshift shell.
#[derive(Debug, Clone)]
pub struct Footprint {
    /// nside-64 nested pixels.
    pub pixels: Vec<u64>,
    /// Redshift range.
    pub z_min: f64,
    /// Redshift range.
    pub z_max: f64,
    d_min: f64,
    d_max: f64,
    ra_range: (f64, f64),
    sin_dec_range: (f64, f64),
    // Comoving distance → redshift, tabulated.
    z_table: Vec<(f64, f64)>,
}

/// Comoving Cartesian position of (RA, Dec) in degrees at distance `d` Mpc.
pub fn to_xyz(ra: f64, dec: f64, d: f64) -> [f64; 3] {
    let (ra, dec) = (ra.to_radians(), dec.to_radians());
    [d * dec.cos() * ra.cos(), d * dec.cos() * ra.sin(), d * dec.sin()]
}

/// (RA, Dec) in degrees and distance of a comoving position.
pub fn from_xyz(p: [f64; 3]) -> (f64, f64, f64) {
    let d = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
    let ra = p[1].atan2(p[0]).to_degrees().rem_euclid(360.0);
    let dec = (p[2] / d).asin().to_degrees();
    (ra, dec, d)
}

impl Footprint {
    /// A footprint of `pixels` (nside 64, nested) between `z_min` and `z_max`.
    pub fn new(mut pixels: Vec<u64>, z_min: f64, z_max: f64) -> Self {
        pixels.sort_unstable();
        pixels.dedup();
        let mut ras = Vec::new();
        let mut decs = Vec::new();
        for &p in &pixels {
            for (lon, lat) in cdshealpix::nested::vertices(6, p) {
                ras.push(lon.to_degrees());
                decs.push(lat.to_degrees());
            }
        }
        // Pixels straddling RA = 0 would need wrapping; the sampler works on an
        // unwrapped range so choose footprints away from it.
        let ra_range = (ras.iter().cloned().fold(f64::INFINITY, f64::min), ras.iter().cloned().fold(f64::NEG_INFINITY, f64::max));
        let dmin = decs.iter().cloned().fold(f64::INFINITY, f64::min);
        let dmax = decs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z_table: Vec<(f64, f64)> = (0..=2000)
            .map(|i| {
                let z = z_max * 1.2 * i as f64 / 2000.0;
                (PLANCK18.comoving_distance(z), z)
            })
            .collect();
        Footprint {
            pixels,
            z_min,
            z_max,
            d_min: PLANCK18.comoving_distance(z_min),
            d_max: PLANCK18.comoving_distance(z_max),
            ra_range,
            sin_dec_range: (dmin.to_radians().sin(), dmax.to_radians().sin()),
            z_table,
        }
    }

    /// Solid angle of the pixels, sr.
    pub fn solid_angle(&self) -> f64 {
        self.pixels.len() as f64 * 4.0 * std::f64::consts::PI / (12.0 * 64.0 * 64.0)
    }

    /// Comoving volume, Mpc³.
    pub fn volume(&self) -> f64 {
        self.solid_angle() / 3.0 * (self.d_max.powi(3) - self.d_min.powi(3))
    }

    /// Whether a comoving position lies inside.
    pub fn contains(&self, p: [f64; 3]) -> bool {
        let (ra, dec, d) = from_xyz(p);
        d >= self.d_min && d <= self.d_max && self.pixels.binary_search(&(desi_io::layout::nside64_pixel(ra, dec) as u64)).is_ok()
    }

    /// A point uniform in the volume (rejection sampling on the bounding region).
    pub fn uniform_point(&self, rng: &mut Rng) -> [f64; 3] {
        loop {
            let ra = rng.range(self.ra_range.0, self.ra_range.1);
            let dec = rng.range(self.sin_dec_range.0, self.sin_dec_range.1).asin().to_degrees();
            let d = rng.range(self.d_min.powi(3), self.d_max.powi(3)).cbrt();
            let p = to_xyz(ra, dec, d);
            if self.contains(p) {
                return p;
            }
        }
    }

    /// Redshift of comoving distance `d` (table interpolation, |Δz| < 1e-7).
    pub fn redshift_of(&self, d: f64) -> f64 {
        let k = self.z_table.partition_point(|e| e.0 < d).clamp(1, self.z_table.len() - 1);
        let (d0, z0) = self.z_table[k - 1];
        let (d1, z1) = self.z_table[k];
        z0 + (z1 - z0) * (d - d0) / (d1 - d0)
    }
}
