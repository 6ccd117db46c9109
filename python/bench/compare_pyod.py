#!/usr/bin/env python3
"""PyOD and this package side by side: same process, same float64 arrays, one thread.

For each dataset (CSV with feature columns and `label`) and detector, times
``fit(X)`` + ``decision_function(X)`` (median of 3 runs below 20,000 rows, one run above)
and reports the ROC-AUC of the training scores (``decision_scores_``, PyOD's unsupervised
protocol, as ../shared/bench/README.md). One thread on both sides: OMP/MKL/OPENBLAS/NUMBA
thread counts 1 and threadpoolctl for PyOD, ``n_jobs=1`` for both, and
``RAYON_NUM_THREADS=1`` for the engine. A warm-up fit per detector keeps numba's JIT
compilation out of PyOD's times.

Usage: compare_pyod.py DIR --out results.csv [--algos IForest,ECOD]
Needs: pyod==3.6.7 scikit-learn pandas threadpoolctl, and this package installed.
"""

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import csv
import glob
import statistics
import time

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

import pynomaly
import pyod
from pyod.models.copod import COPOD
from pyod.models.ecod import ECOD
from pyod.models.hbos import HBOS
from pyod.models.iforest import IForest
from pyod.models.knn import KNN
from pyod.models.lof import LOF
from pyod.models.pca import PCA

PAIRS = {
    "IForest": (lambda: IForest(random_state=0, n_jobs=1), lambda: pynomaly.IForest(random_state=0)),
    "LOF": (lambda: LOF(n_jobs=1), lambda: pynomaly.LOF()),
    "HBOS": (lambda: HBOS(), lambda: pynomaly.HBOS()),
    "ECOD": (lambda: ECOD(n_jobs=1), lambda: pynomaly.ECOD()),
    "COPOD": (lambda: COPOD(n_jobs=1), lambda: pynomaly.COPOD()),
    "KNN": (lambda: KNN(n_jobs=1), lambda: pynomaly.KNN()),
    "PCA": (lambda: PCA(), lambda: pynomaly.PCA()),
}


def timed(make, X, repeats):
    runs = []
    for _ in range(repeats):
        detector = make()
        started = time.perf_counter()
        detector.fit(X)
        detector.decision_function(X)
        runs.append(time.perf_counter() - started)
    return detector.decision_scores_, statistics.median(runs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--out", required=True)
    parser.add_argument("--algos", default=",".join(PAIRS))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    warm = rng.normal(size=(64, 4))
    rows = []
    with threadpool_limits(limits=1):
        for name in args.algos.split(","):
            for make in PAIRS[name]:
                make().fit(warm)
        for path in sorted(glob.glob(os.path.join(args.dir, "*.csv"))):
            frame = pd.read_csv(path)
            y = frame.pop("label").to_numpy().astype(int)
            X = np.ascontiguousarray(frame.to_numpy(dtype=np.float64))
            repeats = 3 if len(X) < 20000 else 1
            for name in args.algos.split(","):
                make_pyod, make_ours = PAIRS[name]
                pyod_scores, pyod_s = timed(make_pyod, X, repeats)
                our_scores, our_s = timed(make_ours, X, repeats)
                row = {
                    "dataset": os.path.basename(path)[:-4], "rows": X.shape[0], "features": X.shape[1],
                    "algorithm": name,
                    "pyod_roc_auc": round(roc_auc_score(y, pyod_scores), 4),
                    "pynomaly_roc_auc": round(roc_auc_score(y, our_scores), 4),
                    "pyod_seconds": round(pyod_s, 4), "pynomaly_seconds": round(our_s, 4),
                    "speedup": round(pyod_s / our_s, 2),
                }
                rows.append(row)
                print(*row.values(), sep="\t", flush=True)
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    by_algo = {}
    for r in rows:
        by_algo.setdefault(r["algorithm"], []).append(r)
    print(f"\npyod {pyod.__version__}, pynomaly {pynomaly.__version__}; geometric mean speed-up and mean ROC-AUC:")
    for name, rs in by_algo.items():
        gm = float(np.exp(np.mean([np.log(r["speedup"]) for r in rs])))
        print(f"{name:8s} x{gm:6.2f}  pyod {np.mean([r['pyod_roc_auc'] for r in rs]):.4f}"
              f"  pynomaly {np.mean([r['pynomaly_roc_auc'] for r in rs]):.4f}")


if __name__ == "__main__":
    main()
