"""Self-tuning of aws-user-personalization: a validation split of the training data and the search over settings.

The split mirrors Personalize's protocol inside the training data: a seeded sample of users with at least two
events, each one's newest 10% of events (at least one) held out and scored with NDCG@10, the user's remaining
items excluded from the ranking and from the truth. Models are fitted on everything except the held-out
events.

The search is coordinate-wise and bounded (about 4x a single fit): the EASE regularisation by hill-climbing a
log grid relative to the mean item weight, then taking the most regularised value within one standard error of
the best (one Gram matrix reused for every value; on the most popular items only when the catalogue is large,
so each trial inversion is cheap); then the event weighting (uniform, by event
type, by event value, when the data have them); then one validation model at the chosen values, on which the
cheap settings are searched by re-scoring the validation users only: recency (off, or a half-life in events,
baskets or days; among settings within one standard error of the best, the one reacting most to new events),
the weight of the popularity prior (up to popularity alone, which is chosen unless the model beats it by more
than one standard error, so the result never scores below popularity on this split) and the weight of the
next-item transitions. Every candidate's score is kept for the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from recsys.recipes import item_models as im
from recsys.recipes.base import History

K = 10
VALIDATION_HOLDOUT = 0.1
MIN_VALIDATION_USERS = 20
#: validation users x catalogue items scored per candidate (bounds the search's memory and time)
VALIDATION_CELLS = 3_000_000
MAX_VALIDATION_USERS = 3_000
#: trial inversions of the l2 search use at most this many (most popular) items
L2_SEARCH_ITEMS = 1_000
#: search grids: l2 as a multiple of the mean item weight; half-lives; blend weights in units of the spreads
L2_GRID = tuple(10.0 ** (j / 2) for j in range(-2, 8))          # 0.1 .. 3162
HALF_LIVES = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)
HALF_LIVES_DAYS = (1.0, 7.0, 30.0, 180.0)
BLEND_GRID = (0.0, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
#: a more responsive recency may cost at most this share of the best validation NDCG (and one standard error)
RESPONSIVE_TOLERANCE = 0.01


@dataclass
class Validation:
    """Held-out newest events of a user sample: `keep` masks the stored history events that stay in training."""

    keep: np.ndarray          # bool per stored history event
    users: np.ndarray         # stored user positions of the validation users
    history: History          # their kept events, rows 0..V-1
    truth: np.ndarray         # bool (V, n_items): held-out items not already in the kept history
    seen: sp.csr_matrix       # (V, n_items) kept-history items (excluded from every ranking)
    kept: np.ndarray          # stored positions of the events in `history`

    @property
    def n_users(self) -> int:
        return len(self.users)


def validation_split(indptr: np.ndarray, items: np.ndarray, times: np.ndarray, weights: np.ndarray,
                     n_items: int, seed: int, max_users: int | None = None) -> Validation | None:
    """The validation split of stored histories (sorted by user, then time); None when too few users qualify."""
    lens = np.diff(indptr)
    eligible = np.flatnonzero(lens >= 2)
    if max_users is None:
        max_users = int(np.clip(VALIDATION_CELLS // max(n_items, 1), 300, MAX_VALIDATION_USERS))
    if len(eligible) < MIN_VALIDATION_USERS:
        return None
    rng = np.random.default_rng(seed)
    users = np.sort(rng.choice(eligible, size=min(len(eligible), max_users), replace=False))
    n_truth = np.maximum(1, np.ceil(VALIDATION_HOLDOUT * lens[users] - 1e-9)).astype(np.int64)
    keep = np.ones(len(items), dtype=bool)
    held = _ranges(indptr[users + 1] - n_truth, n_truth)
    keep[held] = False
    kept_lens = lens[users] - n_truth
    kept = _ranges(indptr[users], kept_lens)
    rows = np.repeat(np.arange(len(users)), kept_lens)
    hist = History(rows, items[kept].astype(np.int64), times[kept], weights[kept].astype(np.float64), len(users))
    seen = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, hist.items)), shape=(len(users), n_items))
    seen.sum_duplicates()
    truth = np.zeros((len(users), n_items), dtype=bool)
    truth[np.repeat(np.arange(len(users)), n_truth), items[held]] = True
    truth[seen.nonzero()] = False
    ok = truth.any(axis=1)
    if ok.sum() < MIN_VALIDATION_USERS:
        return None
    if not ok.all():  # users whose held-out items are all repeats: nothing to find, drop them
        keep[_ranges(indptr[users[~ok] + 1] - n_truth[~ok], n_truth[~ok])] = True
        return _subset(Validation(keep, users, hist, truth, seen, kept), np.flatnonzero(ok))
    return Validation(keep, users, hist, truth, seen, kept)


def _times_dense(P: sp.csr_matrix, B: np.ndarray) -> np.ndarray:
    """P @ B for a sparse P: through BLAS on a dense copy unless P is very sparse (scipy's product is serial)."""
    if P.nnz > 0.01 * P.shape[0] * P.shape[1]:
        return np.asarray(P.toarray().astype(B.dtype) @ B, dtype=np.float64)
    return np.asarray(P @ B, dtype=np.float64)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated aranges [start, start + length) as one index array."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return (offsets + np.arange(total)).astype(np.int64)


def _subset(val: Validation, rows: np.ndarray) -> Validation:
    pick = np.isin(val.history.rows, rows)
    new_row = np.full(val.n_users, -1, dtype=np.int64)
    new_row[rows] = np.arange(len(rows))
    h = val.history
    hist = History(new_row[h.rows[pick]], h.items[pick], h.times[pick], h.weights[pick], len(rows))
    return Validation(val.keep, val.users[rows], hist, val.truth[rows], val.seen[rows], val.kept[pick])


def ndcg_at_k(scores: np.ndarray, val: Validation, k: int = K, per_user: bool = False):
    """Mean NDCG@k of per-user score rows (V, n_items) against the validation truth, seen items excluded
    (`per_user`: the array of each user's NDCG@k instead of the mean)."""
    s = np.array(scores, dtype=np.float32, copy=True)
    s[val.seen.nonzero()] = -np.inf
    kk = min(k, s.shape[1] - 1)
    part = np.argpartition(-s, kk, axis=1)[:, :kk]
    order = np.argsort(-np.take_along_axis(s, part, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(part, order, axis=1)
    hits = np.take_along_axis(val.truth, top, axis=1) & np.isfinite(np.take_along_axis(s, top, axis=1))
    disc = 1.0 / np.log2(np.arange(2, kk + 2))
    dcg = hits @ disc
    n_rel = np.minimum(val.truth.sum(axis=1), kk)
    idcg = np.cumsum(disc)[np.maximum(n_rel, 1) - 1]
    return dcg / idcg if per_user else float(np.mean(dcg / idcg))


def _hill_climb(grid, score, start: int) -> tuple[int, dict]:
    """Index of the best grid value by walking from `start` towards improvement; {index: score} of every trial."""
    seen: dict[int, float] = {}

    def at(i):
        if i not in seen:
            seen[i] = score(grid[i])
        return seen[i]

    best = start
    at(best)
    for step in (1, -1):
        i = best
        while 0 <= i + step < len(grid) and at(i + step) > at(best):
            i += step
            best = i
        if best != start:
            break
    return best, seen


@dataclass
class SearchResult:
    """The chosen settings (recipe units) and every trial, as JSON-safe values."""

    settings: dict
    trials: list = field(default_factory=list)   # {model, stage, setting, ndcg_at_10, chosen}
    validation_users: int = 0
    popularity_score: float = 0.0
    chosen_score: float = 0.0
    held_out_share: float = 0.0       # share of the training events the validation model did not see
    model: tuple | None = None        # (item columns, weights) of the validation model


class SettingsSearch:
    """Search the settings of aws-user-personalization on a validation split; `fixed` settings are not searched.

    fixed keys (each optional): model ('ease' | 'lowrank'), l2, recency ({'unit', 'half_life'}),
    popularity_blend, sequence_blend (weights relative to the relevance, in rank space).
    """

    def __init__(self, indptr, items, times, weights, n_items: int, *, seed: int, fixed: dict,
                 dense_max_items: int, weight_options: dict | None = None):
        self.n_items = n_items
        self.fixed = fixed
        self.seed = seed
        self.dense_max_items = dense_max_items
        self.val = validation_split(indptr, items, times, weights, n_items, seed)
        self.indptr, self.items, self.weights = indptr, items, weights
        self.weight_options = weight_options or {}   # name -> per-event weights (stored order) to try
        self.trials: list = []
        self.models: dict = {}   # kind -> (item columns, weights) of the validation model at the chosen l2
        self.allow_popularity_alone = True

    def run(self) -> SearchResult | None:
        val = self.val
        if val is None:
            return None
        X = im.training_matrix(self.indptr, self.items, self.weights, self.n_items, keep=val.keep)
        counts = np.diff(X.tocsc().indptr).astype(np.float64)
        self.log_pop = np.log((counts + 1.0) / (counts.sum() + self.n_items))
        active = np.flatnonzero(counts > 0)
        self.active = active[np.argsort(-counts[active], kind="stable")]
        self.base_l2 = float(X.power(2).sum() / max(len(active), 1))   # mean diagonal of the Gram matrix
        pop_per_user = ndcg_at_k(np.tile(self.log_pop, (val.n_users, 1)), val, per_user=True)
        pop = float(pop_per_user.mean())
        self._trial("popularity", "popularity", "popularity alone", pop)
        # Low-rank EASE only on request: on the 20k-item sample its randomized SVD alone took a third of the
        # search's time; dense EASE over the most popular items stands in for it on large catalogues.
        T = im.transitions(self.indptr, self.items, self.n_items, keep=val.keep)
        settings, score = self._search_kind(self.fixed.get("model", "ease"), X, T)
        # Popularity alone unless the model beats it by more than one standard error (paired over users): with
        # few validation users on a large catalogue a small lead is noise, and popularity is the safer bet.
        diff = self.chosen_per_user - pop_per_user
        significant = len(diff) > 1 and diff.mean() > diff.std(ddof=1) / np.sqrt(len(diff))
        if not significant and self.allow_popularity_alone:  # the blend follows popularity
            settings, score = {**settings, "relevance": False}, pop
        for t in self.trials:
            t["chosen"] = t["chosen"] and t["model"] == settings["model"] and settings["relevance"]
        self.trials[0]["chosen"] = not settings["relevance"]
        return SearchResult(settings, self.trials, val.n_users, pop, score,
                            held_out_share=float(1.0 - val.keep.mean()), model=self.models.get(settings["model"]))

    # ------------------------------------------------------------------ one model kind
    def _search_kind(self, kind: str, X: sp.csr_matrix, T: sp.csr_matrix) -> tuple[dict, float]:
        val = self.val
        recency0 = self.fixed.get("recency", im.RECENCY_OFF)
        # dense EASE covers the most popular items up to the size whose inversion the time budget allows
        cols = np.sort(self.active[:self.dense_max_items] if kind == "ease" else self.active)
        basis = im.lowrank_basis(X, cols, im.LOWRANK_RANK, self.seed) if kind == "lowrank" else None
        profiles: dict = {}
        state = {"X": X, "hist": val.history, "weighting": "uniform"}

        def relevance(model, recency) -> np.ndarray:
            key = (state["weighting"], recency["unit"], recency["half_life"])
            if key not in profiles:
                h = state["hist"]
                w = h.weights * im.recency_multiplier(h, recency)
                profiles[key] = im.profile_matrix(h, w, self.n_items)
            P = profiles[key]
            out = np.zeros((val.n_users, self.n_items))
            mcols, B = model
            if kind == "ease":
                out[:, mcols] = _times_dense(P[:, mcols], B)
            else:
                out[:, mcols] = im.lowrank_scores(P[:, mcols], *B)
            return out

        grams: dict = {}

        def fit(l2, cols_):
            if kind == "ease":  # one Gram matrix per item set and weighting, reused for every l2
                key = (state["weighting"], len(cols_))
                if key not in grams:
                    grams.clear()
                    grams[key] = im.gram(state["X"], cols_, np.float32)
                return cols_, im.ease_weights(grams[key], l2)
            return cols_, (basis[0], *im.lowrank_shrink(basis[0], basis[1], l2))

        # 1. l2, on the most popular items when a trial inversion of the whole set would be costly
        search_cols = cols if kind == "lowrank" or len(cols) <= 2 * L2_SEARCH_ITEMS else \
            np.sort(self.active[:L2_SEARCH_ITEMS])
        models: dict = {}

        per_user: dict = {}

        def score_l2(l2_):
            key = (state["weighting"], l2_)
            if key not in per_user:
                m = fit(l2_, search_cols)
                if search_cols is cols:
                    models[key] = m
                s = relevance(m, recency0)
                if search_cols is not cols:
                    s[:, np.setdiff1d(cols, search_cols)] = -np.inf
                per_user[key] = ndcg_at_k(s, val, per_user=True)
            return float(per_user[key].mean())

        grid = [c * self.base_l2 for c in L2_GRID]

        def search_l2(start: int) -> float:
            i, tried = _hill_climb(grid, score_l2, start=start)
            # the most regularised l2 within one standard error of the best (paired over users): on sparse,
            # noisy validation sets the best mean is partly luck, and a stronger l2 is the safer bet
            best = per_user[(state["weighting"], grid[i])]
            for j in range(i + 1, len(grid)):
                tried[j] = score_l2(grid[j])
                diff = per_user[(state["weighting"], grid[j])] - best
                if diff.mean() < -diff.std(ddof=1) / np.sqrt(len(diff)):
                    break
                i = j
            for t in self.trials:   # a second pass replaces the first one's choice
                t["chosen"] = t["chosen"] and not (t["model"] == kind and t["stage"] == "l2")
            for j, sc in sorted(tried.items()):
                self._trial(kind, "l2", f"l2 {grid[j]:.4g} ({L2_GRID[j]:.3g} x mean item weight)"
                            + ("" if state["weighting"] == "uniform" else f", events weighted {state['weighting']}"),
                            sc, j == i)
            return grid[i]

        l2 = float(self.fixed["l2"]) if "l2" in self.fixed else search_l2(L2_GRID.index(10.0))
        # 2. event weighting (by event type, by event value), at that l2 on the same items
        def use(name):
            w = self.weight_options.get(name, self.weights)
            state.update(X=im.training_matrix(self.indptr, self.items, w, self.n_items, keep=val.keep),
                         hist=History(val.history.rows, val.history.items, val.history.times,
                                      w[val.kept].astype(np.float64), val.n_users), weighting=name)

        weighting = "uniform"
        if self.weight_options:
            scores = {"uniform": score_l2(l2)}
            for name in self.weight_options:
                use(name)
                scores[name] = score_l2(l2)
            weighting = max(scores, key=scores.get)
            for name, sc in scores.items():
                self._trial(kind, "event weights", f"event weights: {name}", sc, name == weighting)
            use(weighting)
            if weighting != "uniform" and "l2" not in self.fixed:  # l2 again, for the new weights
                l2 = search_l2(int(np.argmin(np.abs(np.asarray(grid) - l2))))
        model = models.get((weighting, l2)) or fit(l2, cols)
        self.models[kind] = model
        # 2. recency, re-scoring the validation users only
        if "recency" in self.fixed:
            recency = self.fixed["recency"]
            R = relevance(model, recency)
        else:
            recency, R = self._search_recency(lambda r: relevance(model, r), kind)
        # 3. blends with the popularity prior and the next-item transitions
        pop_blend, seq_blend, score = self._search_blends(R, T, kind)
        settings = {"model": kind, "l2": l2, "recency": recency, "popularity_blend": pop_blend,
                    "sequence_blend": seq_blend, "n_model_items": int(len(cols)), "relevance": True,
                    "event_weighting": weighting}
        return settings, score

    def _search_recency(self, relevance, kind: str) -> tuple[dict, np.ndarray]:
        val = self.val
        h = val.history
        lens = h.lengths()
        options = [("off", [0.0])]
        longest = max(2.0 * float(np.quantile(lens, 0.9)), 2.0)
        options.append(("events", [x for x in HALF_LIVES if x <= longest]))
        same_time = (h.rows[1:] == h.rows[:-1]) & (h.times[1:] == h.times[:-1])
        if len(same_time) and 0.05 <= same_time.mean() < 0.95:
            options.append(("baskets", [x for x in HALF_LIVES if x <= longest]))
        first = h.times[np.searchsorted(h.rows, np.arange(val.n_users))[lens > 0]]
        last = h.times[np.searchsorted(h.rows, np.arange(val.n_users), side="right")[lens > 0] - 1]
        if len(first) and np.median(last - first) > im.DAY:
            options.append(("days", list(HALF_LIVES_DAYS)))
        cache: dict = {}

        def score(unit, hl):
            recency = {"unit": unit, "half_life": float(hl)}
            if (unit, hl) not in cache:
                R = relevance(recency)
                per_user = ndcg_at_k(R, val, per_user=True)
                cache[(unit, hl)] = (float(per_user.mean()), R, per_user)
                self._trial(kind, "recency", recency_label(recency), cache[(unit, hl)][0])
            return cache[(unit, hl)][0]

        # each unit at the middle of its grid, then a hill-climb in the best unit only
        starts = {unit: min(len(grid) // 2, len(grid) - 1) for unit, grid in options}
        firsts = {unit: score(unit, grid[starts[unit]]) for unit, grid in options}
        unit = max(firsts, key=firsts.get)
        grid = dict(options)[unit]
        i, _ = _hill_climb(grid, lambda hl: score(unit, hl), starts[unit])
        # Among settings within one standard error (paired over users) and 1% of the best, prefer the one that
        # reacts most to a user's latest events (a campaign follows PutEvents): walk to shorter half-lives. The
        # 1% cap keeps noisy, sparse validation sets (where everything is within one standard error) accurate.
        best = cache[(unit, grid[i])][2]
        if unit == "off":
            unit, grid = "events", dict(options)["events"]
            i = len(grid)
        while i > 0:
            diff = cache[(unit, grid[i - 1])][2] - best if score(unit, grid[i - 1]) is not None else None
            if len(diff) < 2 or diff.mean() < -min(diff.std(ddof=1) / np.sqrt(len(diff)),
                                                   RESPONSIVE_TOLERANCE * best.mean()):
                break
            i -= 1
        if i == len(grid):
            unit, grid, i = "off", [0.0], 0
        recency = {"unit": unit, "half_life": float(grid[i])}
        R = cache[(unit, grid[i])][1]
        cache.clear()
        for t in self.trials:
            if t["model"] == kind and t["stage"] == "recency" and t["setting"] == recency_label(recency):
                t["chosen"] = True
        return recency, R

    def _search_blends(self, R: np.ndarray, T: sp.csr_matrix, kind: str) -> tuple[float, float, float]:
        """Weights a, g of R + a·log_pop + g·seq (in units of the spreads), by alternating hill-climbs."""
        val = self.val
        spread_r = float(np.mean(R.std(axis=1))) or 1.0
        spread_p = float(self.log_pop.std()) or 1.0
        S = im.sequence_scores(val.history.rows, val.history.items, val.n_users, T) if T.nnz else None
        spread_s = float(np.mean(S.std(axis=1))) if S is not None else 0.0
        unit_a = spread_r / spread_p
        unit_g = spread_r / spread_s if spread_s > 0 else 0.0
        tried: dict = {}

        def score(a, g):
            if (a, g) not in tried:
                s = R + a * unit_a * self.log_pop[None, :]
                if g and S is not None:
                    s = s + g * unit_g * S
                tried[(a, g)] = ndcg_at_k(s, val)
            return tried[(a, g)]

        grid = list(BLEND_GRID)
        a = self.fixed.get("popularity_blend")
        a = grid[grid.index(0.1)] if a is None else a / unit_a
        g = self.fixed.get("sequence_blend")
        g = 0.0 if g is None else (g / unit_g if unit_g else 0.0)
        search_a = "popularity_blend" not in self.fixed
        search_g = "sequence_blend" not in self.fixed and S is not None
        for stage in ("a", "g", "a"):
            if stage == "a" and search_a:
                i, _ = _hill_climb(grid, lambda x: score(x, g), grid.index(a) if a in grid else 2)
                a = grid[i]
            if stage == "g" and search_g:
                i, _ = _hill_climb(grid, lambda x: score(a, x), grid.index(g) if g in grid else 0)
                g = grid[i]
        final = score(a, g)
        s = R + a * unit_a * self.log_pop[None, :] + (g * unit_g * S if g and S is not None else 0.0)
        self.chosen_per_user = ndcg_at_k(s, val, per_user=True)
        for (av, gv), v in sorted(tried.items()):
            self._trial(kind, "blend", f"popularity prior {av:g}, next-item transitions {gv:g} "
                        "(x relevance spread)", v, (av, gv) == (a, g))
        return a * unit_a, g * unit_g, final

    def _trial(self, kind: str, stage: str, label: str, score: float, chosen: bool = False) -> None:
        self.trials.append({"model": kind, "stage": stage, "setting": label, "ndcg_at_10": round(float(score), 6),
                            "chosen": bool(chosen)})


def recency_label(recency: dict) -> str:
    if recency.get("unit", "off") == "off":
        return "recency off"
    return f"recency half-life {float(recency['half_life']):g} {recency['unit']}"


STAGES = (("l2", "l2"), ("event weights", "event weights"), ("recency", "recency"), ("blend", "blend weights"))
MODEL_NAMES = {"ease": "EASE", "lowrank": "low-rank EASE", "als": "implicit ALS"}
#: why a stage may keep a setting that scored a little below its best alternative (the search's tie rules)
TIE_RULES = {"l2": "the most regularised within one standard error of the best",
             "recency": "the most responsive to new events within one standard error of the best"}


def describe(tuning: dict, settings: dict) -> dict:
    """JSON-safe report of a fit's settings: {'auto_tune', 'sentence', 'settings', 'trials', scores...}.

    It is what a solution version stores as `auto_tune`; `choice_lines` words it for people."""
    out = {k: v for k, v in tuning.items() if k != "trials"}
    out["settings"] = {k: settings[k] for k in ("model", "l2", "recency", "relevance", "relevance_weight",
                                                 "popularity_weight", "sequence_weight", "n_model_items")
                       if k in settings}
    out["trials"] = [dict(t) for t in tuning.get("trials", [])]
    out["sentence"] = " ".join(choice_lines(out))
    return out


def choice_lines(report: dict | None) -> list[str]:
    """What auto-tuning chose and the validation score of each choice against its best alternative, one
    sentence per setting, e.g. 'recency off: validation NDCG@10 0.2290 vs 0.1750 with recency half-life 5
    events.'; from a `describe` report (a recipe's `tuning_report()`, a solution version's `auto_tune`).

    The CLI and the pages show these lines as they are. Empty for None (a recipe that does not tune itself).
    """
    if not report:
        return []
    settings = report.get("settings") or {}
    model = MODEL_NAMES.get(settings.get("model"), str(settings.get("model")))
    used = (f"{model} over {settings.get('n_model_items', 0):,} items, l2 {settings.get('l2', 0):.4g}, "
            f"{recency_label(settings.get('recency') or {})}, popularity weight "
            f"{settings.get('popularity_weight', 0):.3g}, sequence weight {settings.get('sequence_weight', 0):.3g}")
    trials = report.get("trials") or []
    if not trials:
        return [f"Not auto-tuned ({report.get('reason', 'no search')}): {used}."]
    lines = [f"Auto-tuned on {report['validation_users']:,} validation users' newest events: validation NDCG@10 "
             f"{report['chosen_ndcg_at_10']:.4f} (popularity alone {report['popularity_ndcg_at_10']:.4f})."]
    if not settings.get("relevance", True):
        model_trials = [t for t in trials if t["model"] != "popularity"]
        best = max(model_trials, key=lambda t: t["ndcg_at_10"]) if model_trials else None
        vs = (f" vs {best['ndcg_at_10']:.4f} with {MODEL_NAMES.get(best['model'], best['model'])} "
              f"({best['setting']})") if best else ""
        lines.append(f"popularity alone: validation NDCG@10 {report['popularity_ndcg_at_10']:.4f}{vs}; the model "
                     "did not beat popularity alone by more than one standard error, so the recommendations follow "
                     "popularity.")
        return lines
    lines.append(f"model: {model} over {settings.get('n_model_items', 0):,} items.")
    for stage, _ in STAGES:
        rows = [t for t in trials if t["model"] == settings.get("model") and t["stage"] == stage]
        chosen = [t for t in rows if t["chosen"]]
        if not chosen:
            continue
        pick = chosen[0]
        others = [t for t in rows if not t["chosen"] and t["setting"] != pick["setting"]]
        line = f"{pick['setting']}: validation NDCG@10 {pick['ndcg_at_10']:.4f}"
        if others:
            alt = max(others, key=lambda t: t["ndcg_at_10"])
            line += f" vs {alt['ndcg_at_10']:.4f} with {alt['setting']}"
            if alt["ndcg_at_10"] > pick["ndcg_at_10"] and stage in TIE_RULES:
                line += f" ({TIE_RULES[stage]})"
        lines.append(line + ".")
    return lines
