"""Quality check: NDCG@10 of aws-user-personalization against peer libraries under Personalize's protocol.

Protocol (AP §5.1): 10% of users held out (seed), each one's oldest 90% of events given as input (our
recipe gets them as `new_events`; implicit ALS folds them in with recalculate_user; item-kNN scores from
them directly; BPR and Surprise SVD, which cannot fold in, are trained with them), newest 10% scored.
Every model excludes the items of the user's input history; truth items already in that history are
dropped (nobody can recommend them) and users left with no truth are skipped.

Run: ``.venv/bin/python bench/quality.py [--datasets ml-100k,ml-latest-small,online-retail] [--seed 42]
[--write]``; ``--write`` replaces the "Quality" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy.sparse as sp  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATASETS = ROOT.parent / "shared" / "datasets"

from recsys.columns import EVENT_VALUE, ITEM_ID, TIMESTAMP, USER_ID  # noqa: E402
from recsys.data import TrainingData  # noqa: E402
from recsys.recipes import get_recipe  # noqa: E402

K = 10


# ---------------------------------------------------------------------- loaders
def load_ml100k() -> pd.DataFrame:
    f = pd.read_csv(DATASETS / "ml-100k" / "u.data", sep="\t", names=["u", "i", "r", "t"])
    return pd.DataFrame({USER_ID: f.u.astype(str), ITEM_ID: f.i.astype(str), TIMESTAMP: f.t.astype("int64"),
                         EVENT_VALUE: f.r.astype("float64")})


def load_ml_latest_small() -> pd.DataFrame:
    f = pd.read_csv(DATASETS / "ml-latest-small" / "ratings.csv")
    return pd.DataFrame({USER_ID: f.userId.astype(str), ITEM_ID: f.movieId.astype(str),
                         TIMESTAMP: f.timestamp.astype("int64"), EVENT_VALUE: f.rating.astype("float64")})


def load_online_retail() -> pd.DataFrame:
    f = pd.read_csv(DATASETS / "online-retail" / "online_retail.csv.gz",
                    dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": "float64"})
    f = f[f.CustomerID.notna() & ~f.InvoiceNo.str.startswith("C") & (f.Quantity > 0)]
    ts = pd.to_datetime(f.InvoiceDate).astype("datetime64[s]").astype("int64")
    return pd.DataFrame({USER_ID: f.CustomerID.astype("int64").astype(str), ITEM_ID: f.StockCode.astype(str),
                         TIMESTAMP: ts.to_numpy(), EVENT_VALUE: f.Quantity.astype("float64").to_numpy()})


LOADERS = {"ml-100k": load_ml100k, "ml-latest-small": load_ml_latest_small, "online-retail": load_online_retail}


# ---------------------------------------------------------------------- split + metric
def split_users(inter: pd.DataFrame, seed: int):
    """(train frame, history frame, truth frame) under Personalize's protocol."""
    try:
        from recsys.evaluation.splits import personalize_split
        s = personalize_split(TrainingData.from_frames(inter), 0.1, 0.1, seed=seed)
        return s.train.interactions, s.history, s.truth
    except ImportError:  # the evaluation module is not there yet
        pass
    rng = np.random.default_rng(seed)
    counts = inter[USER_ID].value_counts()
    eligible = np.sort(counts.index[counts >= 2].to_numpy(dtype=object))
    test = set(rng.choice(eligible, size=int(round(0.1 * len(counts))), replace=False))
    is_test = inter[USER_ID].isin(test)
    t = inter[is_test].sort_values([USER_ID, TIMESTAMP], kind="stable")
    n = t.groupby(USER_ID)[ITEM_ID].transform("size")
    r = t.groupby(USER_ID).cumcount()
    tail = r >= n - np.maximum(np.ceil(0.1 * n), 1)
    return inter[~is_test], t[~tail], t[tail]


def ndcg(recs: dict[str, list[str]], truth: dict[str, set[str]]) -> float:
    """Mean NDCG@K over the users in `truth` (recsys.evaluation's metric when available)."""
    users = list(truth)
    try:
        from recsys.evaluation.metrics import ndcg_at_k
        return float(np.mean(ndcg_at_k([recs.get(u, [])[:K] for u in users], [truth[u] for u in users], k=K)))
    except ImportError:
        pass
    disc = 1.0 / np.log2(np.arange(2, K + 2))
    vals = []
    for u, rel in truth.items():
        got = recs.get(u, [])[:K]
        dcg = sum(disc[p] for p, i in enumerate(got) if i in rel)
        vals.append(dcg / disc[:min(len(rel), K)].sum())
    return float(np.mean(vals))


# ---------------------------------------------------------------------- peers
class Matrix:
    """Integer ids over the training items and all users (train + test), for the peer libraries."""

    def __init__(self, train, history):
        self.items = np.unique(train[ITEM_ID].to_numpy(dtype=str))
        self.item_pos = pd.Index(self.items)
        users = np.unique(np.concatenate([train[USER_ID].to_numpy(dtype=str), history[USER_ID].to_numpy(dtype=str)]))
        self.user_pos = pd.Index(users)

    def csr(self, frame) -> sp.csr_matrix:
        i = self.item_pos.get_indexer(frame[ITEM_ID].to_numpy(dtype=str))
        u = self.user_pos.get_indexer(frame[USER_ID].to_numpy(dtype=str))
        ok = i >= 0
        m = sp.csr_matrix((np.ones(ok.sum(), np.float32), (u[ok], i[ok])), shape=(len(self.user_pos), len(self.items)))
        m.sum_duplicates()
        return m


def top_from_scores(scores, seen_rows, items) -> list[list[str]]:
    scores = scores.copy()
    scores[seen_rows.nonzero()] = -np.inf
    part = np.argpartition(-scores, K, axis=1)[:, :K]
    order = np.argsort(-np.take_along_axis(scores, part, 1), axis=1)
    return [list(items[p]) for p in np.take_along_axis(part, order, 1)]


def run_implicit(kind, train, history, test_users):
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking
    from implicit.nearest_neighbours import CosineRecommender
    m = Matrix(train, history)
    ui_train, ui_hist = m.csr(train), m.csr(history)
    rows = m.user_pos.get_indexer(test_users)
    hist_rows = ui_hist[rows]
    if kind == "als":
        from threadpoolctl import threadpool_limits
        with threadpool_limits(1, "blas"):  # implicit's advice for its own threads
            model = AlternatingLeastSquares(random_state=0)
            model.fit(ui_train, show_progress=False)
        ids, _ = model.recommend(rows, hist_rows, N=K, filter_already_liked_items=True, recalculate_user=True)
    elif kind == "bpr":
        model = BayesianPersonalizedRanking(random_state=0)
        model.fit(ui_train + ui_hist, show_progress=False)
        ids, _ = model.recommend(rows, hist_rows, N=K, filter_already_liked_items=True)
    else:
        model = CosineRecommender()
        model.fit(ui_train, show_progress=False)
        ids, _ = model.recommend(rows, hist_rows, N=K, filter_already_liked_items=True)
    return {u: list(m.items[r[r >= 0]]) for u, r in zip(test_users, ids)}


def run_surprise_svd(train, history, test_users):
    from surprise import SVD, Dataset, Reader
    m = Matrix(train, history)
    both = pd.concat([train, history])
    r = both.groupby([USER_ID, ITEM_ID], as_index=False)[EVENT_VALUE].agg("mean" if both[EVENT_VALUE].max() <= 5
                                                                          else "sum")
    if r[EVENT_VALUE].max() > 5:  # purchases: quantity -> 1..5 by log scale
        r[EVENT_VALUE] = np.clip(np.ceil(np.log1p(r[EVENT_VALUE])), 1, 5)
    data = Dataset.load_from_df(r[[USER_ID, ITEM_ID, EVENT_VALUE]], Reader(rating_scale=(1, 5)))
    ts = data.build_full_trainset()
    algo = SVD(random_state=0)
    algo.fit(ts)
    inner_items = np.array([ts.to_inner_iid(i) if ts.knows_item(i) else -1 for i in m.items])
    Q = np.where(inner_items[:, None] >= 0, algo.qi[np.maximum(inner_items, 0)], 0)
    bi = np.where(inner_items >= 0, algo.bi[np.maximum(inner_items, 0)], 0)
    uin = np.array([ts.to_inner_iid(u) if False else ts.to_inner_uid(u) for u in test_users])
    scores = algo.pu[uin] @ Q.T + bi[None, :]
    seen = m.csr(history)[m.user_pos.get_indexer(test_users)]
    return dict(zip(test_users, top_from_scores(scores, seen, m.items)))


def run_popularity(train, history, test_users):
    m = Matrix(train, history)
    pop = np.asarray((m.csr(train) > 0).sum(axis=0)).ravel().astype(float)
    seen = m.csr(history)[m.user_pos.get_indexer(test_users)]
    return dict(zip(test_users, top_from_scores(np.tile(pop, (len(test_users), 1)), seen, m.items)))


def run_ours(train, history, test_users, **params):
    recipe = get_recipe("aws-user-personalization")(random_state=0, **params)
    recipe.fit(TrainingData.from_frames(train))
    out = {}
    for start in range(0, len(test_users), 500):
        batch = test_users[start:start + 500]
        for rec in recipe.recommend(batch, n=K, new_events=history):
            out[rec.user_id] = list(rec.item_ids)
    return out


PEERS = {
    "implicit ALS": lambda tr, h, u: run_implicit("als", tr, h, u),
    "implicit BPR": lambda tr, h, u: run_implicit("bpr", tr, h, u),
    "implicit item-kNN (cosine)": lambda tr, h, u: run_implicit("knn", tr, h, u),
    "Surprise SVD": run_surprise_svd,
    "popularity": run_popularity,
}


def evaluate_dataset(name: str, seed: int, ours_params: dict | None = None, peers: bool = True) -> dict:
    inter = LOADERS[name]()
    train, history, truth = split_users(inter, seed)
    hist_sets = history.groupby(USER_ID)[ITEM_ID].agg(set)
    truth_sets = {}
    for u, items in truth.groupby(USER_ID)[ITEM_ID].agg(set).items():
        rel = items - hist_sets.get(u, set())
        if rel:
            truth_sets[str(u)] = rel
    users = np.array(sorted(truth_sets), dtype=object)
    history = history[history[USER_ID].isin(users)]
    results = {}
    runs = {"aws-user-personalization (ours)": lambda tr, h, u: run_ours(tr, h, u, **(ours_params or {}))}
    if peers:
        runs.update(PEERS)
    for label, fn in runs.items():
        t0 = time.perf_counter()
        recs = fn(train, history, users)
        results[label] = (ndcg(recs, truth_sets), time.perf_counter() - t0)
    return {"results": results, "n_users": len(users), "n_inter": len(inter)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=",".join(LOADERS))
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--write", action="store_true", help="write the table to bench/RESULTS.md")
    args = ap.parse_args(argv)
    names = args.datasets.split(",")
    table = {}
    for name in names:
        out = evaluate_dataset(name, args.seed)
        table[name] = out
        for label, (v, secs) in out["results"].items():
            print(f"{name:16s} {label:32s} NDCG@10 {v:.4f}  ({secs:.1f} s)", flush=True)
    md = render(table, args)
    print(md)
    if args.write:
        write_results(md)


def render(table, args) -> str:
    labels = list(next(iter(table.values()))["results"])
    lines = ["## Quality", "",
             f"NDCG@10, Personalize protocol (10% of users held out, seed {args.seed}; oldest 90% of their events as "
             "input, newest 10% scored; history items excluded and removed from the truth). Default parameters for "
             "every model, all run in the same process on the same split.", "",
             f"Command: `.venv/bin/python bench/quality.py --datasets {args.datasets} --seed {args.seed} --write`", "",
             "| model | " + " | ".join(table) + " |", "|---|" + "---:|" * len(table)]
    for label in labels:
        lines.append(f"| {label} | " + " | ".join(f"{table[d]['results'][label][0]:.4f}" for d in table) + " |")
    ours = "aws-user-personalization (ours)"
    gains = []
    for d in table:
        best = max(v for k, (v, _) in table[d]["results"].items() if k != ours)
        gains.append(f"{(table[d]['results'][ours][0] / best - 1) * 100:+.1f}%")
    lines.append("| ours vs best peer | " + " | ".join(gains) + " |")
    lines.append("")
    lines.append("Test users scored: " + ", ".join(f"{d} {table[d]['n_users']}" for d in table) + " (small "
                 "samples: differences of a few percent are noise).")
    lines.append("")
    lines.append("Our defaults (EASE `l2_scale=3`, `recency_half_life=5` events) were chosen on splits with seeds "
                 "1-3, not on the reported seed. Peers: implicit ALS folds the test users' input in with "
                 "`recalculate_user`; item-kNN scores from it; BPR and Surprise SVD (which cannot fold in) are "
                 "trained with it. Surprise SVD predicts ratings, which rank obscure highly-rated items first: "
                 "it is a rating model, not a top-N model.")
    return "\n".join(lines) + "\n"


def write_results(md: str) -> None:
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n\n"
    start = text.find("## Quality")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + md + (text[end + 1:] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + md
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
