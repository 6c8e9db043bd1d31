"""The users' notebook, as the oracle: its own numpy/scipy code, parameterised.

simulate_imbalanced_data.ipynb draws from numpy's global RandomState in this
order: rows per key (scipy.stats.expon), then per key group1..group4 and
value, then the df2 grouping sizes and one choice() per grouping. This module
runs exactly that code (the loop bodies are the notebook's, minus the pandas
DataFrames and to_parquet) and returns the arrays, so the tests can compare
every value skewjoin writes.

Parameters beyond the notebook's constants follow skewjoin's documented
generalisation: the minority fraction is 1 - F rounded to 10 decimals (so
0.95 gives the notebook's literal .05), and row counts scale with `scale`.
"""
import numpy as np

try:  # the notebook's own call; scipy's expon.rvs is standard_exponential*scale+loc
    import scipy.stats as st

    def expon_rvs(loc, scale, size):
        return st.expon.rvs(loc, scale, size=size)
except ImportError:  # pragma: no cover - same draws without scipy
    def expon_rvs(loc, scale, size):
        return np.random.standard_exponential(size) * scale + loc


def simulate(seed=42, keys=7000, buckets=40000, bounds=(10, 20, 30, 40), scale=1.0,
             groupings=11578, df1_mix=(0.95, 160, 125125, 1006402, 8200726),
             df2_mix=(0.99, 1.0, 1.5, 101.0, 554.0)):
    """Returns (rows_per_key, df1 columns dict, df2 columns dict)."""
    np.random.seed(seed)
    key_n = keys
    F, loc_maj, scale_maj, loc_min, scale_min = df1_mix
    P_maj1 = (loc_maj * scale, scale_maj * scale)
    P_min1 = (loc_min * scale, scale_min * scale)
    minor = round(1 - F, 10)

    draws_per_key_majority = expon_rvs(*P_maj1, size=round(F * key_n)).astype(int)
    draws_per_key_minority = expon_rvs(*P_min1, size=round(minor * key_n)).astype(int)
    draws_per_key = np.concatenate((draws_per_key_majority, draws_per_key_minority))

    cols = {"key": [], "bucket": [], **{f"group{i+1}": [] for i in range(len(bounds))}, "value": []}
    key = 1
    for draws in draws_per_key:
        cols["key"].append(np.resize(key, draws))
        cols["bucket"].append(np.resize(np.arange(1, buckets + 1), draws))
        for i, high in enumerate(bounds):
            cols[f"group{i+1}"].append(np.random.randint(low=1, high=high, size=draws))
        cols["value"].append(np.random.random(size=draws))
        key = key + 1
    df1 = {k: (np.concatenate(v) if v else np.array([])) for k, v in cols.items()}

    G2, loc_maj2, scale_maj2, loc_min2, scale_min2 = df2_mix
    minor2 = round(1 - G2, 10)
    df2_groupings_n = groupings
    draws_per_df2group_majority = expon_rvs(loc_maj2, scale_maj2, size=int(G2 * df2_groupings_n)).astype(int)
    draws_per_df2group_minority = expon_rvs(loc_min2, scale_min2, size=int(minor2 * df2_groupings_n)).astype(int)
    draws_per_group = np.concatenate([draws_per_df2group_majority, draws_per_df2group_minority])
    draws_per_group = np.clip(draws_per_group, a_min=0, a_max=key_n)
    draws_per_group[draws_per_group.size - 1] = key_n

    groups, keys_out = [], []
    df2_group = 1
    for draws in draws_per_group:
        groups.append(np.resize(df2_group, draws))
        keys_out.append(np.random.choice(a=np.arange(1, key_n + 1), size=draws, replace=False))
        df2_group = df2_group + 1
    df2 = {"df2_group": np.concatenate(groups), "key": np.concatenate(keys_out)}
    return draws_per_key, df1, df2
