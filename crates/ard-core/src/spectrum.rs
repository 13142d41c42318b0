//! Camera-merged spectra of one input file.

use arrow_array::RecordBatch;

/// The spectra of one coadd file after the b/r/z camera merge, one row per object,
/// with the FIBERMAP row and (when read) the redshift row of each object, aligned.
///
/// Arrays are row-major: `flux[i * nwave + j]` is object `i` at wavelength `j`;
/// `resolution[(i * ndiag + d) * nwave + j]` is diagonal `d` (offset `ndiag/2 − d`,
/// i.e. +5 … −5) at column `j`, in desispec's band-diagonal convention.
#[derive(Debug, Clone)]
pub struct SpectrumBatch {
    /// Survey (`main`, `sv1`, `special`, ...), from the file or the user.
    pub survey: String,
    /// Program (`dark`, `bright`, `backup`, `other`, ...), from the file or the user.
    pub program: String,
    /// The nside-64 nested HEALPix pixel of a healpix coadd; `None` for tile coadds.
    pub healpix: Option<i64>,
    /// Wavelength grid, Å, vacuum.
    pub wavelength: Vec<f64>,
    /// TARGETID of each object.
    pub targetid: Vec<i64>,
    /// Flux, 1e-17 erg/s/cm²/Å.
    pub flux: Vec<f32>,
    /// Inverse variance of the flux, 1e34 (erg/s/cm²/Å)⁻².
    pub ivar: Vec<f32>,
    /// DESI pixel mask bits (0 = good).
    pub mask: Vec<i32>,
    /// Resolution-matrix diagonals.
    pub resolution: Vec<f32>,
    /// Number of resolution diagonals (11 for DESI).
    pub ndiag: usize,
    /// FIBERMAP rows, aligned with `targetid`.
    pub fibermap: RecordBatch,
    /// Redshift rows (redrock REDSHIFTS or zcatalog), aligned with `targetid`.
    pub redshifts: Option<RecordBatch>,
}

impl SpectrumBatch {
    /// Number of objects.
    pub fn len(&self) -> usize {
        self.targetid.len()
    }
    /// Whether there are no objects.
    pub fn is_empty(&self) -> bool {
        self.targetid.is_empty()
    }
    /// Number of wavelength pixels.
    pub fn nwave(&self) -> usize {
        self.wavelength.len()
    }
    /// Flux of object `i`.
    pub fn flux_of(&self, i: usize) -> &[f32] {
        &self.flux[i * self.nwave()..(i + 1) * self.nwave()]
    }
    /// Inverse variance of object `i`.
    pub fn ivar_of(&self, i: usize) -> &[f32] {
        &self.ivar[i * self.nwave()..(i + 1) * self.nwave()]
    }
    /// Mask of object `i`.
    pub fn mask_of(&self, i: usize) -> &[i32] {
        &self.mask[i * self.nwave()..(i + 1) * self.nwave()]
    }
    /// Resolution diagonals of object `i` (`ndiag × nwave`).
    pub fn resolution_of(&self, i: usize) -> &[f32] {
        let n = self.ndiag * self.nwave();
        &self.resolution[i * n..(i + 1) * n]
    }
    /// The FIBERMAP facts of every fibre, for the science-fibre cut of
    /// [`crate::eligibility`].
    pub fn fibres(&self) -> Vec<crate::eligibility::Fibre> {
        crate::eligibility::Fibre::of_table(&self.fibermap)
    }
    /// The SFD98 E(B−V) of every object (FIBERMAP EBV), `None` where absent: what the
    /// layers that fit physical models correct for ([`crate::dust`]).
    pub fn ebv(&self) -> Vec<Option<f64>> {
        crate::columns::nullable_f64(&self.fibermap, "EBV").unwrap_or_else(|| vec![None; self.len()])
    }
    /// A copy with every spectrum corrected for Milky-Way extinction by its E(B−V)
    /// ([`crate::dust::MilkyWay::correct`]), for validation runs and tests; the stages
    /// correct one object at a time instead, to keep one copy of a pixel in memory.
    pub fn milky_way_corrected(&self) -> SpectrumBatch {
        let milky_way = crate::dust::MilkyWay::new(&self.wavelength);
        let mut out = self.clone();
        let n = self.nwave();
        for (i, ebv) in self.ebv().into_iter().enumerate() {
            let (f, iv) = milky_way.correct(self.flux_of(i), self.ivar_of(i), ebv);
            out.flux[i * n..(i + 1) * n].copy_from_slice(&f);
            out.ivar[i * n..(i + 1) * n].copy_from_slice(&iv);
        }
        out
    }
    /// Row index of a TARGETID.
    pub fn index_of(&self, targetid: i64) -> Option<usize> {
        self.targetid.iter().position(|&t| t == targetid)
    }
}
