"""Item-item relevance models of aws-user-personalization: dense EASE, low-rank EASE, next-item transitions.

Each model maps a batch of user profiles (a sparse users x items matrix of weighted, log1p-squashed events) to
relevance scores. The fitting functions are pure (arrays in, arrays out) so the recipe's validation search can
call them on its validation split and the final fit on all the data, through one code path.

- Dense EASE (Steck 2019): B = I - P / diag(P), P = (G + l2 I)^-1, G the item Gram matrix. Exact; the inverse
  costs n^3, so it is used up to a catalogue size measured in bench/quality.py (`DENSE_EASE_MAX_ITEMS`).
- Low-rank EASE: the same closed form with G replaced by its top-k eigenpairs (a randomized SVD of the user x
  item matrix), so P = (I - Q W Q') / l2 with W = s^2 / (s^2 + l2). Every l2 costs nothing once the SVD is
  done, and memory is n x k instead of n x n. For catalogues beyond the dense limit.
- Transitions: how often item j directly follows item i in a user's history (row-normalised, self-loops
  dropped); a user's sequence score is the transition rows of their last events, newest weighing most.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

#: Largest catalogue for dense EASE in auto mode (beyond it: EASE over the most popular items, or low-rank EASE).
#: Measured with `bench/quality.py --measure-dense` (bench/RESULTS.md): one float32 inversion took 2.5 s at
#: 3,000 items, 4.6 s at 4,000 and 9.1 s at 5,000 on this 2-core machine (load average ~9); an auto-tuned fit
#: makes two at this size, which keeps a 20k-item, 100k-event fit within its 30 s.
DENSE_EASE_MAX_ITEMS = 4_000
#: Rank of low-rank EASE (capped by the data's own rank).
LOWRANK_RANK = 128
#: How many of the user's newest events feed the sequence score, and the decay per step back.
SEQUENCE_WINDOW = 5
SEQUENCE_DECAY = 0.5


def training_matrix(indptr: np.ndarray, items: np.ndarray, weights: np.ndarray, n_items: int,
                    keep: np.ndarray | None = None) -> sp.csr_matrix:
    """Users x items CSR of log1p(summed event weights) from history arrays (optionally a `keep` mask of events)."""
    n_users = len(indptr) - 1
    rows = np.repeat(np.arange(n_users), np.diff(indptr))
    if keep is not None:
        rows, items, weights = rows[keep], items[keep], weights[keep]
    X = sp.csr_matrix((weights.astype(np.float64), (rows, items)), shape=(n_users, n_items))
    X.sum_duplicates()
    X.data = np.log1p(X.data)
    return X


def gram(X: sp.csr_matrix, cols: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Dense item Gram matrix X'X restricted to the item columns `cols`."""
    Xa = X[:, cols]
    return (Xa.T @ Xa).toarray().astype(dtype)


def ease_weights(G: np.ndarray, l2: float, *, overwrite: bool = False) -> np.ndarray:
    """EASE item-item weights B (zero diagonal) from a Gram matrix; float32 output."""
    from threadpoolctl import threadpool_limits
    if not overwrite:
        G = G.copy()
    G[np.diag_indices_from(G)] += max(float(l2), 1e-6)
    # multi-threaded BLAS only pays off on large matrices (and hurts badly on a busy machine)
    with threadpool_limits(1 if len(G) < 3000 else None, "blas"):
        P = spd_inverse(G)
    # In place: at n items every dense n x n float64 copy costs 8 n^2 bytes (650 MB at 9k items).
    P /= -np.diag(P).copy()
    P[np.diag_indices_from(P)] = 0.0
    return P.astype(np.float32, copy=False)


def spd_inverse(G: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive-definite matrix via Cholesky (about twice as fast as a general inverse)."""
    from scipy.linalg import get_lapack_funcs
    potrf, potri = get_lapack_funcs(("potrf", "potri"), (G,))
    c, info = potrf(G, lower=False, overwrite_a=True)
    if info != 0:
        return np.linalg.inv(G)
    inv, info = potri(c, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE: matrix inversion failed (lapack info {info}); raise l2")
    # dpotri fills the upper triangle only; mirror it in row blocks so no full-size temporary is made.
    n = len(inv)
    for start in range(0, n, 1024):
        stop = min(start + 1024, n)
        inv[start:stop, :start] = inv[:start, start:stop].T
        block = inv[start:stop, start:stop]
        block[np.tril_indices(stop - start, -1)] = block.T[np.tril_indices(stop - start, -1)]
    return inv


def lowrank_basis(X: sp.csr_matrix, cols: np.ndarray, rank: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(Q, s2): the top right singular vectors (items x k, float32) and squared singular values of X[:, cols]."""
    from sklearn.utils.extmath import randomized_svd
    Xa = X[:, cols].astype(np.float32)
    k = int(max(1, min(rank, min(Xa.shape) - 1)))
    _, s, vt = randomized_svd(Xa, n_components=k, n_iter=3, random_state=seed)
    return np.ascontiguousarray(vt.T, dtype=np.float32), (s.astype(np.float64) ** 2)


def lowrank_shrink(Q: np.ndarray, s2: np.ndarray, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """(w, d) of low-rank EASE at `l2`: scores = ((x Q) * w) Q' / d for items the user has not seen."""
    w = s2 / (s2 + max(float(l2), 1e-6))
    d = 1.0 - (Q.astype(np.float64) ** 2) @ w
    return w.astype(np.float32), np.maximum(d, 1e-6).astype(np.float32)


def lowrank_scores(X: sp.csr_matrix, Q: np.ndarray, w: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Low-rank EASE relevance of profiles X (rows x the model's items), float64."""
    XQ = np.asarray(X @ Q, dtype=np.float64)
    out = ((XQ * w) @ Q.T.astype(np.float64)) / d
    # the diagonal term of B, (1 - 1/d) x, keeps the closed form exact for items the user already has
    if X.nnz:
        Xc = X.tocoo()
        out[Xc.row, Xc.col] += (1.0 - 1.0 / d[Xc.col]) * Xc.data
    return out


def transitions(indptr: np.ndarray, items: np.ndarray, n_items: int, keep: np.ndarray | None = None
                ) -> sp.csr_matrix:
    """Row-normalised next-item counts (n_items x n_items, float32) from time-ordered user histories."""
    n_users = len(indptr) - 1
    rows = np.repeat(np.arange(n_users), np.diff(indptr))
    if keep is not None:
        rows, items = rows[keep], items[keep]
    same_user = rows[1:] == rows[:-1]
    src, dst = items[:-1][same_user], items[1:][same_user]
    moved = src != dst
    T = sp.csr_matrix((np.ones(int(moved.sum()), np.float32), (src[moved], dst[moved])), shape=(n_items, n_items))
    T.sum_duplicates()
    out_degree = np.asarray(T.sum(axis=1)).ravel()
    return sp.csr_matrix(sp.diags(1.0 / (out_degree + 1.0)).astype(np.float32) @ T)


def last_events_matrix(rows: np.ndarray, items: np.ndarray, n_rows: int, n_items: int) -> sp.csr_matrix:
    """Rows x items: each row's SEQUENCE_WINDOW newest events, weighted SEQUENCE_DECAY^(steps back).

    `rows` must be sorted with each row's events oldest first (History order).
    """
    if not len(rows):
        return sp.csr_matrix((n_rows, n_items), dtype=np.float32)
    ends = np.searchsorted(rows, rows, side="right")
    back = ends - 1 - np.arange(len(rows))
    near = back < SEQUENCE_WINDOW
    M = sp.csr_matrix((np.power(SEQUENCE_DECAY, back[near]).astype(np.float32), (rows[near], items[near])),
                      shape=(n_rows, n_items))
    M.sum_duplicates()
    return M


def sequence_scores(rows: np.ndarray, items: np.ndarray, n_rows: int, T: sp.csr_matrix) -> np.ndarray:
    """Sequence relevance (n_rows x n_items, float64): transitions out of each row's newest events."""
    L = last_events_matrix(rows, items, n_rows, T.shape[0])
    return np.asarray((L @ T).toarray(), dtype=np.float64)


# ---------------------------------------------------------------------- user profiles
DAY = 86_400
RECENCY_OFF = {"unit": "off", "half_life": 0.0}


def recency_multiplier(hist, recency: dict) -> np.ndarray:
    """Per-event weight 0.5^(age / half_life) of a History, the age counted in the unit of `recency`.

    units: 'off' (all 1), 'events' (steps back from the row's newest event, in stored order), 'baskets' (steps
    back over distinct timestamps, so one basket shares an age), 'days' (time before the row's newest event).
    """
    unit, half_life = recency.get("unit", "off"), float(recency.get("half_life", 0.0))
    n = len(hist.rows)
    if unit == "off" or half_life <= 0 or n == 0:
        return np.ones(n)
    if unit == "events":
        age = hist.rank_from_newest().astype(np.float64)
    elif unit == "baskets":
        age = hist.rank_from_newest(distinct_times=True).astype(np.float64)
    elif unit == "days":
        newest = np.asarray(hist.times, dtype=np.int64)[np.searchsorted(hist.rows, hist.rows, side="right") - 1]
        age = (newest - np.asarray(hist.times, dtype=np.int64)) / DAY
    else:
        raise ValueError(f"unknown recency unit {unit!r}")
    return np.power(0.5, age / half_life)


def profile_matrix(hist, weights: np.ndarray, n_items: int) -> sp.csr_matrix:
    """Rows x items CSR of log1p(summed event weights): the profile every relevance model reads."""
    X = hist.matrix(n_items, weights)
    X.sum_duplicates()
    X.data = np.log1p(X.data)
    return X
