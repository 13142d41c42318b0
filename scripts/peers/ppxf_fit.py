#!/usr/bin/env python3
"""pPXF 9.5.2 as a comparison peer for desi-ard's clean-room full-spectrum fit.

Runs pPXF (Cappellari 2023) on one DESI coadd target with the settings of
issue 4's reference: cameras merged by desispec's coadd_cameras (ivar-weighted on
the 0.8 Å grid), wavelengths converted to air and to the rest frame, log-rebinned;
the 150 E-MILES templates broadened to the DESI resolution; 19 Gaussian gas lines;
three kinematic components (stars, Balmer, forbidden); degree=-1, mdegree=10.
Prints one JSON object: fluxes (1e-17 erg/s/cm², observed frame), kinematics and
the wall time of the fit itself.

pPXF is run as a peer only (its licence forbids redistribution); nothing of it is
ported. The E-MILES templates come from desi-ard's own template file (derived at
set-up from the ppxf==8.2.6 sdist), written here in the `.npz` layout pPXF reads.

Usage: ppxf_fit.py COADD REDROCK TARGETID TEMPLATES.fits [--repeat N]
"""
import json
import sys
import time
import tempfile
import os

import numpy as np
from astropy.io import fits
from desispec.io import read_spectra
from desispec.coaddition import coadd_cameras
from ppxf.ppxf import ppxf
import ppxf.ppxf_util as util
import ppxf.sps_util as lib

C = 299792.458


def vac_to_air(w):
    # Morton (2000), the IAU standard, as in ard_core::wavelength.
    s2 = (1e4 / w) ** 2
    return w / (1 + 5.792105e-2 / (238.0185 - s2) + 1.67917e-3 / (57.362 - s2))


def npz_from_ard_templates(path, out):
    with fits.open(path) as h:
        wave = np.asarray(h["WAVELENGTH"].data, dtype=float)
        flux = np.asarray(h["FLUX"].data, dtype=float)  # [metal, age, pix]
        fwhm = np.asarray(h["FWHM"].data, dtype=float)
        ages = np.asarray(h["AGES"].data, dtype=float)
        metals = np.asarray(h["METALS"].data, dtype=float)
        masses = np.asarray(h["MASS_SURVIVING"].data, dtype=float)
    templates = np.transpose(flux, (2, 1, 0))  # [pix, age, metal]
    masses = np.transpose(masses.reshape(len(metals), len(ages)), (1, 0))
    np.savez(out, templates=templates, lam=wave, ages=ages, metals=metals, masses=masses, fwhm=fwhm)


def main():
    coadd, redrock, targetid, tpl = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 1
    spec = read_spectra(coadd)
    spec = spec.select(targets=[targetid])
    brz = coadd_cameras(spec)
    band = brz.bands[0]
    wave = brz.wave[band]
    flux = brz.flux[band][0].astype(float)
    ivar = brz.ivar[band][0].astype(float)
    mask = brz.mask[band][0] if brz.mask is not None else np.zeros_like(ivar, dtype=int)
    res = brz.resolution_data[band][0]
    with fits.open(redrock) as h:
        zt = h["REDSHIFTS"].data
        z = float(zt["Z"][zt["TARGETID"] == targetid][0])

    # LSF FWHM per pixel (observed Å) from the resolution matrix's second moment.
    offs = np.arange(res.shape[0] // 2, -res.shape[0] // 2, -1)[: res.shape[0]]
    norm = res.sum(0)
    mean = (res * offs[:, None]).sum(0) / norm
    var = (res * offs[:, None] ** 2).sum(0) / norm - mean**2
    fwhm_obs = 2.3548 * np.sqrt(np.clip(var, 1e-6, None)) * np.gradient(wave)

    good = (ivar > 0) & (mask == 0) & np.isfinite(flux)
    lam_rest = vac_to_air(wave) / (1 + z)
    # Rest frame: F_rest = F_obs (1+z) keeps ∫F dλ equal to the observed line flux.
    flux_rest = flux * (1 + z)
    noise = np.where(good, 1 / np.sqrt(np.where(ivar > 0, ivar, 1)) * (1 + z), 1e10)
    galaxy, ln_lam, velscale = util.log_rebin(lam_rest, flux_rest)
    noise2, _, _ = util.log_rebin(lam_rest, noise**2)
    noise = np.sqrt(noise2)
    goodpix = np.interp(ln_lam, np.log(lam_rest), good.astype(float)) > 0.99
    lam_gal = np.exp(ln_lam)
    fwhm_rest = np.interp(lam_gal, lam_rest, fwhm_obs / (1 + z))
    scale = np.median(galaxy[goodpix])
    galaxy, noise = galaxy / scale, noise / scale

    tmpd = tempfile.mkdtemp()
    npz = os.path.join(tmpd, "emiles.npz")
    npz_from_ard_templates(tpl, npz)
    sps = lib.sps_lib(npz, velscale, {"lam": lam_gal, "fwhm": fwhm_rest}, norm_range=[5070, 5950])
    stars = sps.templates.reshape(sps.templates.shape[0], -1)
    lam_range = [lam_gal[0], lam_gal[-1]]
    gas, gas_names, gas_wave = util.emission_lines(sps.ln_lam_temp, lam_range, {"lam": lam_gal, "fwhm": fwhm_rest},
                                                   tie_balmer=False, limit_doublets=False)
    templates = np.column_stack([stars, gas])
    n_stars = stars.shape[1]
    balmer = np.array(["H" in n and "He" not in n for n in gas_names])
    component = [0] * n_stars + [1 if b else 2 for b in balmer]
    gas_component = np.array(component) > 0
    start = [[0, 150.0], [0, 50.0], [0, 50.0]]
    moments = [2, 2, 2]
    t0 = time.perf_counter()
    for _ in range(repeat):
        pp = ppxf(templates, galaxy, noise, velscale, start, moments=moments, degree=-1, mdegree=10,
                  lam=lam_gal, lam_temp=sps.lam_temp, component=component, gas_component=gas_component,
                  gas_names=gas_names, goodpixels=np.flatnonzero(goodpix), quiet=True)
    elapsed = (time.perf_counter() - t0) / repeat
    names = list(gas_names)
    # pPXF's gas_flux is per log-λ pixel of the rest frame here; × the pixel width in Å
    # at the line gives erg/s/cm² (observed, since F_rest = F_obs (1+z)). A doublet's
    # value is the sum of both lines (ratio 0.33:1), so its strong line is 1/1.33 of it.
    def flux_of(name, rest_air, doublet=False):
        k = names.index(name)
        width = rest_air * velscale / C / (1.33 if doublet else 1.0)
        return float(pp.gas_flux[k] * scale * width), float(pp.gas_flux_error[k] * scale * width)
    out = {
        "targetid": targetid, "z": z, "velscale": float(velscale), "seconds_per_fit": elapsed,
        "gas_names": names,
        "h_alpha": flux_of("Halpha", 6562.819), "h_beta": flux_of("Hbeta", 4861.333),
        "oiii_5007": flux_of("[OIII]5007_d", 5006.843, True), "nii_6584": flux_of("[NII]6583_d", 6583.460, True),
        "sol": [list(map(float, s)) for s in pp.sol], "error": [list(map(float, e)) for e in pp.error],
        "chi2": float(pp.chi2),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
