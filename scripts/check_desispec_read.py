#!/usr/bin/env python3
"""Peer check: DESI's own reader on files the simulator wrote.

For every coadd under ROOT: desispec.io.read_spectra + desispec.coaddition.coadd_cameras,
and redrock's REDSHIFTS through astropy. Prints one JSON object per file with what
desispec found, for the Rust test (crates/desi-sim/tests/desispec_peer.rs) to compare.
Needs desispec==0.70.0 (pip; no DESI data). Usage: check_desispec_read.py ROOT
"""
import glob, json, os, sys, hashlib
os.environ.setdefault("DESI_LOGLEVEL", "ERROR")
import numpy as np
import desispec
from desispec.io import read_spectra
from desispec.coaddition import coadd_cameras
from astropy.io import fits

root = sys.argv[1]
for path in sorted(glob.glob(os.path.join(root, "healpix", "*", "*", "*", "*", "coadd-*.fits"))):
    sp = read_spectra(path)
    m = coadd_cameras(sp)
    band = m.bands[0]
    rr = path.replace("coadd-", "redrock-")
    with fits.open(rr) as h:
        z = h["REDSHIFTS"].data
        zid = [int(t) for t in z["TARGETID"]]
    print(json.dumps({
        "file": os.path.relpath(path, root),
        "sha256": hashlib.sha256(open(path, "rb").read()).hexdigest(),
        "desispec": desispec.__version__,
        "bands": list(sp.bands),
        "survey": sp.meta.get("SURVEY"), "program": sp.meta.get("PROGRAM"),
        "targetid": [int(t) for t in sp.fibermap["TARGETID"]],
        "redrock_targetid": zid,
        "nwave": int(m.wave[band].size),
        "flux_sum": [float(np.sum(m.flux[band][i])) for i in range(m.flux[band].shape[0])],
        "ivar_sum": [float(np.sum(m.ivar[band][i])) for i in range(m.ivar[band].shape[0])],
    }))
