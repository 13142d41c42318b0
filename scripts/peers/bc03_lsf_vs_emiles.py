#!/usr/bin/env python3
"""How wide are BC03's lines? Broadens the E-MILES SSP (FWHM 2.51 Å, Vazdekis et al.
2016) by a Gaussian until it best matches the BC03 SSP of the same age at solar
metallicity (both continuum-normalised by a 100 Å running median), in three windows,
and prints the implied BC03 FWHM = sqrt(2.51² + extra²). Template mismatch between the
two libraries adds width of its own, so this is an upper bound on BC03's resolution;
BC03 state 3 Å (Bruzual & Charlot 2003, abstract). Needs the project's converted files
(scripts/setup.sh) and numpy, scipy, astropy (the peer venv has them).

Usage: python scripts/peers/bc03_lsf_vs_emiles.py [CACHE_SSP_DIR]
"""
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits
from scipy.ndimage import gaussian_filter1d, median_filter

ssp = Path(sys.argv[1] if len(sys.argv) > 1 else Path.home() / ".cache/desi-ard/ssp")
bc03 = fits.open(ssp / "bc03-mpajhu-ssp-v1.fits")
emiles = fits.open(ssp / "emiles-ssp-v1.fits")
STEP = 0.25  # Å, common grid


def ssp_spectrum(h, age):
    metals, ages = h["METALS"].data, h["AGES"].data
    return h["WAVELENGTH"].data, h["FLUX"].data[np.argmin(abs(metals)), np.argmin(abs(ages - age))]


def normalised(x):
    return x / median_filter(x, size=int(100 / STEP), mode="nearest")


print("age_gyr  window_A  extra_fwhm_A  implied_bc03_fwhm_A")
for age in (2.5, 5.0, 10.0):
    wb, fb = ssp_spectrum(bc03, age)
    we, fe = ssp_spectrum(emiles, age)
    for lo, hi in ((4000, 4600), (4600, 5400), (5400, 6200)):
        grid = np.arange(lo, hi, STEP)
        b, e = normalised(np.interp(grid, wb, fb)), np.interp(grid, we, fe)
        best = min(
            (np.std((b - normalised(gaussian_filter1d(e, x / 2.3548 / STEP) if x > 0 else e))[50:-50]), x)
            for x in np.arange(0.0, 3.01, 0.1)
        )
        print(f"{age:7.1f}  {lo}-{hi}  {best[1]:12.1f}  {np.hypot(2.51, best[1]):19.2f}")
