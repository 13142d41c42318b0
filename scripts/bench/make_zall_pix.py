"""Writes a zall-pix-shaped zcatalog of N rows for the zcatalog-reading benchmark
(BENCHMARKS.md, "Reading DR1's zall-pix"). Never committed: 28 M rows make ~8 GB.

The columns are those of the corpus' zall-pix-iron.fits (desidatamodel's ZCATALOG names,
types and widths) plus COEFF (10 doubles) and 24 float32 photometry/targeting columns, so a
row is ~300 bytes, as wide as the real file's. Rows are spread over the 49,152 nside-64
pixels at random; the corpus file's 11 rows (pixel 27247) are written in the middle, so
`desi-ard read` of the corpus' coadds finds its redshifts in the big file.

    python scripts/bench/make_zall_pix.py OUT.fits [N_ROWS]
"""
import sys

import fitsio
import numpy as np

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 28_000_000
corpus = fitsio.read("testdata/dr1/zcatalog/v1/zall-pix-iron.fits", ext="ZCATALOG")
fill = [f"FLUX_{b}" for b in "GRZ"] + [f"FLUX_IVAR_{b}" for b in "GRZ"] + [f"F{i:02d}" for i in range(18)]
# DESI's widths for the strings (the corpus file's are as short as its values).
widths = {"SPECTYPE": "S6", "SUBTYPE": "S20", "SURVEY": "S7", "PROGRAM": "S6"}
base = [(name, widths.get(name, t)) for name, t in corpus.dtype.descr]
dtype = base + [("COEFF", "f8", (10,))] + [(c, "f4") for c in fill]
rng = np.random.default_rng(1)
chunk = 1_000_000
surveys = np.array(["main", "sv1", "sv3", "special"])
programs = np.array(["dark", "bright", "backup", "other"])
written = 0
middle = n // 2
with fitsio.FITS(out, "rw", clobber=True) as f:
    while written < n:
        m = min(chunk, n - written)
        t = np.zeros(m, dtype=dtype)
        t["TARGETID"] = 39627000000000000 + written + np.arange(m)
        t["Z"] = rng.uniform(0, 1.5, m)
        t["ZERR"] = 1e-4
        t["ZWARN"] = (rng.uniform(size=m) < 0.05) * 4
        t["SPECTYPE"] = "GALAXY"
        t["SURVEY"] = surveys[rng.integers(0, 4, m)]
        t["PROGRAM"] = programs[rng.integers(0, 4, m)]
        t["HEALPIX"] = rng.integers(0, 49152, m)
        # The corpus pixel's genuine rows are never duplicated by the random ones.
        t["HEALPIX"][t["HEALPIX"] == 27247] = 27246
        for c in fill:
            t[c] = rng.normal(size=m).astype("f4")
        if written <= middle < written + m:
            k = middle - written
            for name in corpus.dtype.names:
                t[name][k : k + len(corpus)] = corpus[name]
        if written == 0:
            f.write(t, extname="ZCATALOG")
        else:
            f["ZCATALOG"].append(t)
        written += m
        print(f"{written:,} rows", file=sys.stderr, flush=True)
