//! The b/r/z camera merge, as desispec's `coadd_cameras` (desispec 0.70.0,
//! `py/desispec/coaddition.py`) does it, so that the ARD's spectra are the ones the
//! AI layer's models were trained on.
//!
//! The merged grid is the union of the camera grids (which share pixel centres to
//! within 1e-4 Å). Pixels seen by one camera are copied; pixels in the overlap of two
//! cameras get the inverse-variance weighted mean flux Σ ivar·f / Σ ivar, the summed
//! ivar, the OR of the masks (cleared where the merged ivar is positive) and the
//! resolution diagonals averaged with, for diagonal d at column j, the ivar of the
//! row j − offset(d) as weight (desispec `_resolution_coadd`, its issue #2372).

use std::path::Path;

use ard_core::grid::{brz_index, BRZ_NWAVE, BRZ_WAVE_MIN};

use crate::coadd::Camera;
use crate::error::{DesiIoError, Result};

const TOLERANCE: f64 = 1e-4;

/// Merged spectra on the union grid of the cameras.
#[derive(Debug, Clone)]
pub struct Merged {
    /// Union wavelength grid, Å.
    pub wavelength: Vec<f64>,
    /// Flux, nspec × nwave.
    pub flux: Vec<f32>,
    /// Inverse variance, nspec × nwave.
    pub ivar: Vec<f32>,
    /// Mask, nspec × nwave.
    pub mask: Vec<i32>,
    /// Resolution diagonals, nspec × ndiag × nwave.
    pub resolution: Vec<f32>,
    /// Number of diagonals (the largest of the cameras').
    pub ndiag: usize,
}

fn nearest(grid: &[f64], x: f64) -> usize {
    let i = grid.partition_point(|&g| g < x);
    if i == 0 {
        0
    } else if i >= grid.len() {
        grid.len() - 1
    } else if (grid[i] - x).abs() < (x - grid[i - 1]).abs() {
        i
    } else {
        i - 1
    }
}

/// Merges the cameras of `nspec` spectra onto their union grid (see the module docs).
///
/// # Errors
/// [`DesiIoError::Grid`] when the camera grids are not aligned.
pub fn coadd_cameras(path: &Path, cameras: &[Camera], nspec: usize) -> Result<Merged> {
    if cameras.is_empty() {
        return Err(DesiIoError::Grid { path: path.into(), message: "no cameras to merge".into() });
    }
    // Union grid, cameras in order of mean wavelength.
    let mean = |c: &Camera| c.wavelength.iter().sum::<f64>() / c.nwave().max(1) as f64;
    let mut order: Vec<usize> = (0..cameras.len()).collect();
    order.sort_by(|&a, &b| mean(&cameras[a]).total_cmp(&mean(&cameras[b])));
    let mut wave: Vec<f64> = Vec::new();
    for &c in &order {
        let last = wave.last().copied();
        wave.extend(cameras[c].wavelength.iter().copied().filter(|&w| last.is_none_or(|l| w > l + TOLERANCE)));
    }
    // Alignment of every camera with the union grid.
    let mut start = vec![0usize; cameras.len()];
    for (ci, cam) in cameras.iter().enumerate() {
        let imin = nearest(&wave, cam.wavelength[0]);
        if imin + cam.nwave() > wave.len() || cam.wavelength.iter().enumerate().any(|(j, &w)| (w - wave[imin + j]).abs() > TOLERANCE) {
            return Err(DesiIoError::Grid {
                path: path.into(),
                message: format!(
                    "camera {} wavelength grid is not aligned with the other cameras' (pixel centres differ by > {TOLERANCE} Å)",
                    cam.name
                ),
            });
        }
        start[ci] = imin;
    }
    let nwave = wave.len();
    // Overlap flags, each camera against its neighbours in file order (as desispec).
    let near_any = |w: f64, other: &Camera| {
        let k = nearest(&other.wavelength, w);
        (other.wavelength[k] - w).abs() <= TOLERANCE
    };
    let overlap: Vec<Vec<bool>> = (0..cameras.len())
        .map(|i| {
            cameras[i]
                .wavelength
                .iter()
                .map(|&w| (i > 0 && near_any(w, &cameras[i - 1])) || (i + 1 < cameras.len() && near_any(w, &cameras[i + 1])))
                .collect()
        })
        .collect();

    let max_ndiag = cameras.iter().map(|c| c.ndiag).max().unwrap_or(0);
    let mut flux = vec![0f64; nspec * nwave];
    let mut ivar = vec![0f64; nspec * nwave];
    let mut mask = vec![0i32; nspec * nwave];
    let mut rdata = vec![0f64; nspec * max_ndiag * nwave];
    let mut rnorm = vec![0f64; nspec * max_ndiag * nwave];
    for &ci in &order {
        let cam = &cameras[ci];
        let (n, s0, nd) = (cam.nwave(), start[ci], cam.ndiag);
        let (ww, doff) = ((nd / 2) as i64, (max_ndiag - nd) / 2);
        let ov = &overlap[ci];
        for i in 0..nspec {
            let f = &cam.flux[i * n..(i + 1) * n];
            let iv = &cam.ivar[i * n..(i + 1) * n];
            let m = &cam.mask[i * n..(i + 1) * n];
            let res = &cam.resolution[i * nd * n..(i + 1) * nd * n];
            for j in 0..n {
                let o = i * nwave + s0 + j;
                if ov[j] {
                    flux[o] += iv[j] as f64 * f[j] as f64;
                    ivar[o] += iv[j] as f64;
                    mask[o] |= m[j];
                } else {
                    flux[o] = f[j] as f64;
                    ivar[o] = iv[j] as f64;
                    mask[o] = m[j];
                }
                for d in 0..nd {
                    let ro = (i * max_ndiag + doff + d) * nwave + s0 + j;
                    let r = res[d * n + j] as f64;
                    if ov[j] {
                        // Weight: ivar of the matrix row this diagonal element belongs to
                        // (index wraps within the camera, as numpy's % does in desispec).
                        let k = (j as i64 + d as i64 - ww).rem_euclid(n as i64) as usize;
                        rdata[ro] += iv[k] as f64 * r;
                        rnorm[ro] += iv[k] as f64;
                    } else {
                        rdata[ro] = r;
                        rnorm[ro] = 1.0;
                    }
                }
            }
        }
    }
    // Pixels to normalise: flags of the last camera (in file order) covering each pixel.
    let mut normalize = vec![false; nwave];
    for (ci, cam) in cameras.iter().enumerate() {
        for j in 0..cam.nwave() {
            normalize[start[ci] + j] = overlap[ci][j];
        }
    }
    for i in 0..nspec {
        for j in 0..nwave {
            let o = i * nwave + j;
            if normalize[j] {
                let w = ivar[o];
                flux[o] /= if w == 0.0 { 1.0 } else { w };
                for d in 0..max_ndiag {
                    let ro = (i * max_ndiag + d) * nwave + j;
                    let w = rnorm[ro];
                    rdata[ro] /= if w == 0.0 { 1.0 } else { w };
                }
            }
            if ivar[o] > 0.0 {
                mask[o] = 0;
            }
        }
    }
    Ok(Merged {
        wavelength: wave,
        flux: flux.into_iter().map(|x| x as f32).collect(),
        ivar: ivar.into_iter().map(|x| x as f32).collect(),
        mask,
        resolution: rdata.into_iter().map(|x| x as f32).collect(),
        ndiag: max_ndiag,
    })
}

/// Places merged spectra on the full brz grid (3600–9824 Å, 7,781 pixels). Pixels no
/// camera covered (a camera missing from the file) get flux 0, ivar 0 and the
/// `mask_missing` bits.
///
/// # Errors
/// [`DesiIoError::Grid`] when the merged grid's pixel centres are not brz pixels.
pub fn onto_brz_grid(path: &Path, merged: Merged, nspec: usize, mask_missing: i32) -> Result<Merged> {
    let n = merged.wavelength.len();
    let first = merged.wavelength.first().copied().unwrap_or(f64::NAN);
    let offset = brz_index(first).ok_or_else(|| DesiIoError::Grid {
        path: path.into(),
        message: format!("merged grid starts at {first} Å, outside the brz grid (3600–9824 Å at 0.8 Å)"),
    })?;
    let aligned = offset + n <= BRZ_NWAVE
        && merged.wavelength.iter().enumerate().all(|(j, &w)| (w - (BRZ_WAVE_MIN + 0.8 * (offset + j) as f64)).abs() <= TOLERANCE * 10.0);
    if !aligned {
        return Err(DesiIoError::Grid {
            path: path.into(),
            message: format!("merged grid ({n} pixels from {first} Å) is not a sub-grid of the brz grid (3600–9824 Å at 0.8 Å); resample the coadd first"),
        });
    }
    if offset == 0 && n == BRZ_NWAVE {
        return Ok(Merged { wavelength: ard_core::grid::brz_wavelength(), ..merged });
    }
    let nd = merged.ndiag;
    let mut out = Merged {
        wavelength: ard_core::grid::brz_wavelength(),
        flux: vec![0.0; nspec * BRZ_NWAVE],
        ivar: vec![0.0; nspec * BRZ_NWAVE],
        mask: vec![mask_missing; nspec * BRZ_NWAVE],
        resolution: vec![0.0; nspec * nd * BRZ_NWAVE],
        ndiag: nd,
    };
    for i in 0..nspec {
        let dst = i * BRZ_NWAVE + offset;
        out.flux[dst..dst + n].copy_from_slice(&merged.flux[i * n..(i + 1) * n]);
        out.ivar[dst..dst + n].copy_from_slice(&merged.ivar[i * n..(i + 1) * n]);
        out.mask[dst..dst + n].copy_from_slice(&merged.mask[i * n..(i + 1) * n]);
        for d in 0..nd {
            let src = (i * nd + d) * n;
            let dst = (i * nd + d) * BRZ_NWAVE + offset;
            out.resolution[dst..dst + n].copy_from_slice(&merged.resolution[src..src + n]);
        }
        // Outside the covered range a delta-function kernel keeps R well defined.
        for j in (0..offset).chain(offset + n..BRZ_NWAVE) {
            out.resolution[(i * nd + nd / 2) * BRZ_NWAVE + j] = 1.0;
        }
    }
    Ok(out)
}
