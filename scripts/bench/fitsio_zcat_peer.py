"""Peer of the zall-pix reading benchmark (BENCHMARKS.md): fitsio reads the columns desi-ard reads, then keeps pixel 27247."""
import sys, fitsio, numpy as np
want = ["TARGETID","SURVEY","PROGRAM","TILEID","HEALPIX","TARGET_RA","TARGET_DEC","Z","ZERR","ZWARN","SPECTYPE","SUBTYPE","DELTACHI2"]
f = fitsio.FITS(sys.argv[1])
have = [c for c in want if c in f["ZCATALOG"].get_colnames()]
t = f["ZCATALOG"].read(columns=have)
keep = t[t["HEALPIX"] == 27247]
print(len(t), len(keep))
