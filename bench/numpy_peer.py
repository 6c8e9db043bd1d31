#!/usr/bin/python3
"""The peer of `skewjoin gen`: the notebook's own df1 loop in numpy.

Times the loop body exactly as the notebook runs it (np.resize, randint x4,
random) for every key at scale S, without pandas or to_parquet (pyarrow is
not on Debian 12), so its figure is a lower bound on the notebook's time.
Prints one JSON object: rows, seconds.
"""
import json
import sys
import time

import numpy as np
import scipy.stats as st

scale = float(sys.argv[1])
np.random.seed(42)
t0 = time.perf_counter()
maj = st.expon.rvs(160 * scale, 125125 * scale, size=round(.95 * 7000)).astype(int)
mnr = st.expon.rvs(1006402 * scale, 8200726 * scale, size=round(.05 * 7000)).astype(int)
rows = 0
for key, draws in enumerate(np.concatenate((maj, mnr)), 1):
    k = np.resize(key, draws)
    bucket = np.resize(np.arange(1, 40000 + 1), draws)
    g1 = np.random.randint(low=1, high=10, size=draws)
    g2 = np.random.randint(low=1, high=20, size=draws)
    g3 = np.random.randint(low=1, high=30, size=draws)
    g4 = np.random.randint(low=1, high=40, size=draws)
    value = np.random.random(size=draws)
    rows += int(draws)
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - t0}))
