#!/usr/bin/env python3
"""The SED layer's comparison peer: Bagpipes (Carnall et al. 2018) + nautilus (Lange 2023).

Runs the model closest to desi-ard's (delayed-tau SFH, Calzetti dust, fixed velocity
dispersion, the DESI resolution curve, a Bayesian calibration polynomial, white noise
scaling) on the spectrum the benchmark wrote, and prints one JSON line:

  * per-call: seconds per likelihood call, timed on `--calls` draws from the prior (the
    first, which builds Bagpipes' model grids, excluded);
  * with `--full`: a complete nautilus fit (`n_live` 400, Bagpipes' default), its wall
    time, likelihood-call count and 16/50/84 % of the formed mass.

Usage: bagpipes_fit.py SPECTRUM.txt --z Z --sigma KMS --r-curve RCURVE.txt [--calls N] [--full]
SPECTRUM.txt: observed vacuum wavelength (Å), flux and error (1e-17 erg/s/cm²/Å), one row
per pixel, masked pixels with error 0. RCURVE.txt: wavelength (Å), resolving power.
Set up with scripts/peers/bagpipes-venv.sh (bagpipes 1.3.6, nautilus-sampler 1.0.6).
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("spectrum")
    ap.add_argument("--z", type=float, required=True)
    ap.add_argument("--sigma", type=float, default=100.0)
    ap.add_argument("--r-curve", required=True)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    spec = np.loadtxt(args.spectrum)
    wave, flux, err = spec[:, 0], spec[:, 1] * 1e-17, spec[:, 2] * 1e-17
    # Bagpipes has no mask: masked pixels get an error so large they carry no weight.
    bad = ~(err > 0) | ~np.isfinite(flux)
    flux[bad] = 0.0
    err[bad] = 9.9e99
    data = np.c_[wave, flux, err]
    r_curve = np.loadtxt(args.r_curve)

    work = tempfile.mkdtemp(prefix="bagpipes-peer-")
    os.chdir(work)  # Bagpipes writes pipes/posterior/… under the working directory.
    import bagpipes as pipes

    galaxy = pipes.galaxy("desi", lambda _id: data, photometry_exists=False, spectrum_exists=True)
    fit_instructions = {
        "redshift": args.z,
        "veldisp": args.sigma,
        "R_curve": r_curve,
        "delayed": {"age": (0.05, 14.0), "tau": (0.1, 10.0), "tau_prior": "log_10",
                    "massformed": (6.0, 13.0), "metallicity": (0.02, 1.66)},
        "dust": {"type": "Calzetti", "Av": (0.0, 2.5)},
        "calib": {"type": "polynomial_bayesian",
                  "0": (0.5, 1.5), "0_prior": "Gaussian", "0_prior_mu": 1.0, "0_prior_sigma": 0.25,
                  "1": (-0.5, 0.5), "1_prior": "Gaussian", "1_prior_mu": 0.0, "1_prior_sigma": 0.1,
                  "2": (-0.5, 0.5), "2_prior": "Gaussian", "2_prior_mu": 0.0, "2_prior_sigma": 0.1},
        "noise": {"type": "white_scaled", "scaling": (0.5, 5.0), "scaling_prior": "log_10"},
    }
    fit = pipes.fit(galaxy, fit_instructions, run="desi_ard_peer")
    model = fit.fitted_model
    rng = np.random.default_rng(args.seed)
    cubes = rng.random((args.calls + 1, model.ndim))
    params = [model.prior.transform(c.copy()) for c in cubes]
    model.lnlike(params[0])  # builds the model grids once
    t0 = time.perf_counter()
    for p in params[1:]:
        model.lnlike(p)
    per_call = (time.perf_counter() - t0) / args.calls
    out = {"bagpipes": pipes.__version__ if hasattr(pipes, "__version__") else "1.3.6",
           "ndim": model.ndim, "n_pix": int((~bad).sum()), "seconds_per_call": per_call}

    if args.full:
        counter = {"n": 0}
        inner = model.lnlike

        def counted(x, *a):
            counter["n"] += 1
            return inner(x, *a)

        model.lnlike = counted
        t1 = time.perf_counter()
        fit.fit(verbose=False, sampler="nautilus", n_live=400, use_MPI=False)
        out["full_fit_seconds"] = time.perf_counter() - t1
        out["full_fit_calls"] = counter["n"]
        i = fit.fitted_model.params.index("delayed:massformed")
        lo, mid, hi = np.percentile(fit.results["samples2d"][:, i], [16, 50, 84])
        out["massformed_p16_p50_p84"] = [lo, mid, hi]
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
