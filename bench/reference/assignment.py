#!/usr/bin/env python3
"""Reference timings for src/bench/assignment.ts: exact W2 between the same point sets with SciPy.

Usage: assignment.py MANIFEST.json

The manifest (written by the TypeScript bench) lists cases {"n", "rep", "a", "b"} whose "a" and
"b" are .npy files of shape (n, 2). For each case this computes the squared-distance matrix with
NumPy (direct differences, as ours does), solves the assignment with
scipy.optimize.linear_sum_assignment, and, when POT is importable, also ot.emd2 with uniform
weights. Times are wall-clock milliseconds of each step (time.perf_counter), like the
TypeScript bench. Prints one JSON object on stdout.
"""
import json
import platform
import sys
import time

import numpy as np
import scipy
from scipy.optimize import linear_sum_assignment

try:
    import ot  # POT: Python Optimal Transport

    POT_VERSION = ot.__version__
    POT_MISSING = None
except Exception as e:  # noqa: BLE001 - any import failure means "no POT"
    ot = None
    POT_VERSION = None
    POT_MISSING = f"{type(e).__name__}: {e}"


def sq_dist(a, b):
    d = a[:, None, :] - b[None, :, :]
    return np.einsum("ijk,ijk->ij", d, d)


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        manifest = json.load(f)
    out = []
    for case in manifest["cases"]:
        a = np.load(case["a"])
        b = np.load(case["b"])
        n = a.shape[0]
        t0 = time.perf_counter()
        c = sq_dist(a, b)
        t1 = time.perf_counter()
        rows, cols = linear_sum_assignment(c)
        t2 = time.perf_counter()
        cost = float(c[rows, cols].sum())
        row = {
            "n": case["n"],
            "rep": case["rep"],
            "distanceMs": (t1 - t0) * 1e3,
            "scipyMs": (t2 - t1) * 1e3,
            "scipyW2": (cost / n) ** 0.5,
        }
        if ot is not None:
            w = np.full(n, 1.0 / n)
            t3 = time.perf_counter()
            emd = float(ot.emd2(w, w, c, numItermax=10_000_000))
            t4 = time.perf_counter()
            row["potMs"] = (t4 - t3) * 1e3
            row["potW2"] = max(emd, 0.0) ** 0.5
        out.append(row)
    json.dump(
        {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "pot": POT_VERSION,
            "potMissing": POT_MISSING,
            "cases": out,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
