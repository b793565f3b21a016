"""Uncertainty and comparison: bootstrap confidence intervals, paired bootstrap tests, `compare()`, verdicts, segments.

Example::

    low, high = bootstrap_ci(report, "normalized_discounted_cumulative_gain_at_10")
    table = compare({"popularity": pop_report, "v2": up_report}, baseline="popularity")
    for c in comparisons({"popularity": pop_report, "v2": up_report, "affinity": seg_report}):
        c.verdicts["verdict"]      # "v2 beats popularity on NDCG@10 by +344% (...; paired p = 0.001)"
    segment_metrics(up_report, by="history_bucket")        # cold vs warm users
    segment_metrics(up_report, by="CATEGORY_L1")           # by category of the items to predict
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from recsys.columns import ITEM_ID, USER_ID
from recsys.evaluation import metrics as M
from recsys.evaluation.report import HISTORY_BUCKET, HISTORY_LABELS, RECOMMENDED, TRUTH, EvaluationReport
from recsys.exceptions import ValidationError

log = logging.getLogger(__name__)

DEFAULT_METRIC = M.ndcg_key(10)
_CHUNK_CELLS = 4_000_000  # resample indices generated per chunk (bounds memory at ~32 MB)


def _values(values_or_report, metric: str | None) -> np.ndarray:
    if isinstance(values_or_report, EvaluationReport):
        metric = metric or DEFAULT_METRIC
        if metric not in values_or_report.per_user.columns:
            raise ValidationError(f"metric {metric!r} has no per-user values in this report (per-user columns: "
                                  f"{[c for c in values_or_report.per_user.columns if c.islower()]})")
        values = values_or_report.per_user[metric]
    else:
        values = values_or_report
    arr = np.asarray(values, dtype=np.float64).ravel()
    return arr[~np.isnan(arr)]


def bootstrap_means(values, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """Means of ``n_boot`` resamples (with replacement) of ``values``; vectorised in memory-bounded chunks."""
    values = np.asarray(values, dtype=np.float64).ravel()
    n = len(values)
    if n == 0:
        return np.full(n_boot, np.nan)
    rng = np.random.default_rng(seed)
    rows = max(1, _CHUNK_CELLS // n)
    out = np.empty(n_boot)
    for start in range(0, n_boot, rows):
        m = min(rows, n_boot - start)
        out[start:start + m] = values[rng.integers(0, n, size=(m, n))].mean(axis=1)
    return out


def bootstrap_ci(values_or_report, metric: str | None = None, *, n_boot: int = 1000, alpha: float = 0.05,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of a mean over users.

    Pass per-user values (array) or a report and a metric key. Returns ``(low, high)`` at level 1 - alpha
    (NaN, NaN with no values).
    """
    if not 0.0 < alpha < 1.0:
        raise ValidationError(f"alpha must be in (0, 1), got {alpha}")
    values = _values(values_or_report, metric)
    if len(values) == 0:
        return float("nan"), float("nan")
    means = bootstrap_means(values, n_boot, seed)
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def paired_bootstrap(a, b, *, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> dict[str, float]:
    """Is mean(a) different from mean(b) on the same users? Bootstrap of the per-user differences a - b.

    Returns ``diff`` (mean difference), ``low``/``high`` (its CI) and ``p_value`` (two-sided: the share of
    resampled differences, re-centred on 0, at least as far from 0 as the observed one). When the CI excludes
    0 (p < alpha) the difference is unlikely to be noise.
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValidationError(f"paired values differ in length ({a.size} vs {b.size}); pair them by user first")
    d = a - b
    d = d[~np.isnan(d)]
    if len(d) == 0:
        return {"diff": float("nan"), "low": float("nan"), "high": float("nan"), "p_value": float("nan")}
    means = bootstrap_means(d, n_boot, seed)
    observed = float(d.mean())
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    extreme = np.abs(means - observed) >= abs(observed) - 1e-15
    p = (1.0 + extreme.sum()) / (n_boot + 1.0) if observed != 0 else 1.0
    return {"diff": observed, "low": float(low), "high": float(high), "p_value": float(min(1.0, p))}


def _pick_baseline(reports: Mapping[str, EvaluationReport], baseline: str | None) -> str:
    if baseline is not None:
        if baseline not in reports:
            raise ValidationError(f"baseline {baseline!r} is not one of the compared versions {list(reports)}")
        return baseline
    for name, rep in reports.items():
        if "popularity" in rep.recipe_name.lower() or "popularity" in name.lower():
            return name
    return next(iter(reports))


def compare(reports: Mapping[str, EvaluationReport], baseline: str | None = None,
            metrics: Sequence[str] | None = None, *, n_boot: int = 1000, alpha: float = 0.05,
            seed: int = 0) -> pd.DataFrame:
    """Versions side by side, with CIs, lift over the baseline and a paired bootstrap against it.

    One row per version (the baseline first). For each metric ``m``: ``m`` (the value), ``m_ci_low`` /
    ``m_ci_high`` (bootstrap CI over users), ``m_lift`` (relative change vs the baseline, 0.12 = +12%),
    ``m_diff`` with ``m_diff_ci_low`` / ``m_diff_ci_high`` and ``m_p_value`` (paired bootstrap over the users
    both reports scored). ``coverage`` has no per-user values, so only its value and lift. The baseline
    defaults to the report whose recipe is a popularity recipe, else the first.
    """
    if not reports:
        raise ValidationError("compare() needs at least one report")
    base_name = _pick_baseline(reports, baseline)
    base = reports[base_name]
    protocols = {r.protocol for r in reports.values()}
    if len(protocols) > 1:
        log.warning("comparing reports made with different protocols; differences may reflect the data: %s",
                    protocols)
    if metrics is None:
        metrics = [k for k in base.metrics if all(k in r.metrics for r in reports.values())]
    names = [base_name] + [n for n in reports if n != base_name]
    rows = []
    for name in names:
        rep = reports[name]
        row: dict = {"version": name, "recipe": rep.recipe_name, "is_baseline": name == base_name,
                     "n_test_users": rep.n_test_users}
        paired = _paired_frame(rep, base)
        for m in metrics:
            value = rep.metrics.get(m, float("nan"))
            row[m] = value
            has_users = m in rep.per_user.columns
            if has_users:
                row[f"{m}_ci_low"], row[f"{m}_ci_high"] = bootstrap_ci(rep.per_user[m], n_boot=n_boot,
                                                                       alpha=alpha, seed=seed)
            base_value = base.metrics.get(m, float("nan"))
            row[f"{m}_lift"] = value / base_value - 1.0 if base_value and not np.isnan(base_value) else float("nan")
            if has_users and m in base.per_user.columns:
                row.update(_difference(rep, base, m, paired, name == base_name, n_boot, alpha, seed))
        row["protocol"] = rep.protocol
        rows.append(row)
    return pd.DataFrame(rows)


def _paired_frame(rep: EvaluationReport, base: EvaluationReport) -> pd.DataFrame | None:
    key = rep.entity
    if key not in rep.per_user.columns or key not in base.per_user.columns:
        return None
    joined = rep.per_user.merge(base.per_user, on=key, suffixes=("", "__base"))
    return joined if len(joined) else None


def _difference(rep, base, m, paired, is_base, n_boot, alpha, seed) -> dict:
    if is_base:
        return {f"{m}_diff": 0.0, f"{m}_diff_ci_low": 0.0, f"{m}_diff_ci_high": 0.0, f"{m}_p_value": 1.0}
    if paired is not None and f"{m}__base" in paired.columns:
        res = paired_bootstrap(paired[m], paired[f"{m}__base"], n_boot=n_boot, alpha=alpha, seed=seed)
    else:  # different users: unpaired bootstrap of the difference of means
        a = bootstrap_means(_values(rep.per_user[m], None), n_boot, seed)
        b = bootstrap_means(_values(base.per_user[m], None), n_boot, seed + 1)
        diffs = a - b
        observed = float(rep.per_user[m].mean() - base.per_user[m].mean())
        low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
        p = min(1.0, 2 * min((diffs <= 0).mean(), (diffs >= 0).mean()) + 1.0 / (n_boot + 1))
        res = {"diff": observed, "low": float(low), "high": float(high), "p_value": float(p)}
    return {f"{m}_diff": res["diff"], f"{m}_diff_ci_low": res["low"], f"{m}_diff_ci_high": res["high"],
            f"{m}_p_value": res["p_value"]}


# ------------------------------------------------------------------------------------------------ verdicts


def pairwise(reports: Mapping[str, EvaluationReport], metric: str = DEFAULT_METRIC, *, n_boot: int = 1000,
             alpha: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """Every pair of versions on one metric, better first, with a verdict sentence per pair.

    Pairs are tested on the users both reports scored (paired bootstrap of the per-user differences), or, when
    they share no user, with an unpaired bootstrap. A pair is called for the better one only when the interval
    of the difference excludes 0; otherwise the verdict says there is no clear difference. Columns: ``better``,
    ``worse``, ``better_value``, ``worse_value``, ``lift`` (0.12 = +12%), ``diff``, ``diff_ci_low``,
    ``diff_ci_high``, ``p_value``, ``paired``, ``clear`` and ``verdict``.
    """
    for name, rep in reports.items():
        if metric not in rep.metrics:
            raise ValidationError(f"{name!r} has no {M.display_name(metric)} ({metric}); compare versions of the "
                                  f"same recipe type (it reports {sorted(rep.metrics)})")
    lower = metric in M.LOWER_IS_BETTER
    ranked = sorted(reports, key=lambda n: _sortable(reports[n].metrics[metric]), reverse=not lower)
    rows = []
    for i, better in enumerate(ranked):
        for worse in ranked[i + 1:]:
            rows.append(_pair(better, worse, reports[better], reports[worse], metric, n_boot, alpha, seed))
    columns = ["better", "worse", "better_value", "worse_value", "lift", "diff", "diff_ci_low", "diff_ci_high",
               "p_value", "paired", "clear", "verdict"]
    return pd.DataFrame(rows, columns=columns)


def _sortable(value) -> float:
    value = float(value) if value is not None else float("nan")
    return -np.inf if np.isnan(value) else value


def _pair(better, worse, rep_b, rep_w, metric, n_boot, alpha, seed) -> dict:
    value_b, value_w = float(rep_b.metrics[metric]), float(rep_w.metrics[metric])
    row = {"better": better, "worse": worse, "better_value": value_b, "worse_value": value_w,
           "lift": value_b / value_w - 1.0 if value_w else float("nan"), "diff": value_b - value_w,
           "diff_ci_low": float("nan"), "diff_ci_high": float("nan"), "p_value": float("nan"), "paired": False}
    if metric in rep_b.per_user.columns and metric in rep_w.per_user.columns:
        paired = _paired_frame(rep_b, rep_w)
        row["paired"] = paired is not None and f"{metric}__base" in paired.columns
        diff = _difference(rep_b, rep_w, metric, paired, False, n_boot, alpha, seed)
        row.update(diff=diff[f"{metric}_diff"], diff_ci_low=diff[f"{metric}_diff_ci_low"],
                   diff_ci_high=diff[f"{metric}_diff_ci_high"], p_value=diff[f"{metric}_p_value"])
    low, high = row["diff_ci_low"], row["diff_ci_high"]
    row["clear"] = bool(not np.isnan(low) and (low > 0 or high < 0) and value_b != value_w)
    row["verdict"] = verdict_sentence(row, metric, 1 - alpha)
    return row


def verdict_sentence(pair: Mapping, metric: str, level: float = 0.95) -> str:
    """One sentence on a `pairwise` row: who beats whom, by how much, how sure; or that the data cannot tell."""
    name = M.display_name(metric)
    lift = pair["lift"]
    by = f"{lift:+.0%}" if np.isfinite(lift) else f"{pair['diff']:+.4f}"
    values = f"{pair['better_value']:.4f} vs {pair['worse_value']:.4f}"
    if np.isnan(pair["diff_ci_low"]):
        return (f"{pair['better']} scores {values} against {pair['worse']} on {name} ({by}); there are no per-user "
                "values to tell whether the difference is real.")
    test = "paired" if pair["paired"] else "unpaired"
    p = pair["p_value"]
    p_text = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
    interval = (f"{values}; difference {pair['diff']:+.4f}, {level:.0%} CI {pair['diff_ci_low']:+.4f} to "
                f"{pair['diff_ci_high']:+.4f}; {test} {p_text}")
    if pair["clear"]:
        return f"{pair['better']} beats {pair['worse']} on {name} by {by} ({interval})."
    return f"No clear difference between {pair['better']} and {pair['worse']} on {name} ({interval})."


def readable(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """A `compare` table for people, on one metric: version, recipe, test users, value, CI, lift % and p-value."""
    name = M.display_name(metric)
    out = pd.DataFrame({"version": table["version"], "recipe": table["recipe"],
                        "test users": table["n_test_users"], name: table[metric]})
    for column, source in (("95% CI low", f"{metric}_ci_low"), ("95% CI high", f"{metric}_ci_high")):
        out[column] = table[source] if source in table.columns else float("nan")
    out["lift % vs baseline"] = table[f"{metric}_lift"] * 100.0
    p_column = f"{metric}_p_value"
    out["p-value"] = table[p_column] if p_column in table.columns else float("nan")
    return out


@dataclass
class Comparison:
    """Versions that can be compared: one recipe type, one evaluation protocol, one metric."""

    recipe_type: str
    protocol: str
    metric: str
    reports: dict[str, EvaluationReport]
    table: pd.DataFrame          # `compare` over the versions (baseline first)
    verdicts: pd.DataFrame       # `pairwise` on `metric`

    @property
    def title(self) -> str:
        return f"{self.recipe_type.replace('_', ' ').capitalize()} — {M.display_name(self.metric)}"

    def readable(self) -> pd.DataFrame:
        return readable(self.table, self.metric)


def comparisons(reports: Mapping[str, EvaluationReport], metric: str = DEFAULT_METRIC, *,
                baseline: str | None = None, n_boot: int = 1000, alpha: float = 0.05,
                seed: int = 0) -> list[Comparison]:
    """Split reports into comparable sets (same recipe type and protocol) and compare each on `metric`.

    A set whose reports lack `metric` (e.g. segmentation versions, scored on hit/recall) is compared on its own
    first metric with per-user values. Sets compared on `metric` come first, the larger sets first.
    """
    groups: dict[tuple[str, str], dict[str, EvaluationReport]] = {}
    for name, rep in reports.items():
        groups.setdefault((rep.recipe_type, rep.protocol), {})[name] = rep
    out = []
    for (recipe_type, protocol), members in groups.items():
        chosen = metric if all(metric in r.metrics for r in members.values()) else default_metric(members)
        if chosen is None:
            continue
        base = baseline if baseline in members else None
        table = compare(members, baseline=base, metrics=[chosen], n_boot=n_boot, alpha=alpha, seed=seed)
        verdicts = pairwise(members, chosen, n_boot=n_boot, alpha=alpha, seed=seed)
        out.append(Comparison(recipe_type, protocol, chosen, dict(members), table, verdicts))
    return sorted(out, key=lambda c: (c.metric != metric, -len(c.reports)))


def default_metric(reports: Mapping[str, EvaluationReport]) -> str | None:
    """The first metric every report has, preferring ones with per-user values (so with intervals)."""
    common_keys = [k for k in next(iter(reports.values())).metrics
                   if all(k in r.metrics for r in reports.values())]
    with_users = [k for k in common_keys if all(k in r.per_user.columns for r in reports.values())]
    return (with_users or common_keys or [None])[0]


# ------------------------------------------------------------------------------------------------ segments


def segment_metrics(report: EvaluationReport, by: str, *, items: pd.DataFrame | None = None,
                    metrics: Sequence[str] | None = None, ci_metric: str | None = DEFAULT_METRIC,
                    n_boot: int = 500, alpha: float = 0.05, seed: int = 0, min_users: int = 1) -> pd.DataFrame:
    """Metrics broken down by segment: one row per segment value with n_users, metric means and a CI.

    ``by`` is
    - ``"history"`` / ``"history_bucket"``: cold vs warm users by history length (``cold (0)``, ``1-4``, ...);
    - any per-user column, e.g. a user attribute such as ``GENDER`` (from the users table);
    - a column of the Items table (e.g. ``CATEGORY_L1``; ``|``-separated multi-values split): each user's
      relevant items are restricted to that category and the ranking metrics recomputed for the users who
      have one, so "how well do we predict the next *shoe*" is answered. Needs ``report.lists`` and the
      items frame (kept by `evaluate`, or pass ``items``).
    """
    if by in ("history", "history_length_bucket"):
        by = HISTORY_BUCKET
    if by in report.per_user.columns and by != report.entity:
        frame = report.per_user
    else:
        frame = _item_segment_frame(report, by, items)
    metric_cols = list(metrics) if metrics is not None else [
        c for c in report.metrics if c in frame.columns]
    if not metric_cols:
        raise ValidationError(f"no per-user metric to break down by {by!r}; pass metrics=[...]")
    keys = frame[by].astype(object).where(frame[by].notna(), "(missing)")
    grouped = frame.assign(_segment=keys).groupby("_segment", sort=False)
    out = grouped[metric_cols].mean()
    out.insert(0, "n_users", grouped.size())
    if ci_metric is not None and ci_metric in frame.columns:
        cis = {seg: bootstrap_ci(g[ci_metric], n_boot=n_boot, alpha=alpha, seed=seed) for seg, g in grouped}
        out[f"{ci_metric}_ci_low"] = [cis[s][0] for s in out.index]
        out[f"{ci_metric}_ci_high"] = [cis[s][1] for s in out.index]
    out = out[out["n_users"] >= min_users].reset_index().rename(columns={"_segment": by})
    if by == HISTORY_BUCKET:
        order = {label: i for i, label in enumerate(HISTORY_LABELS)}
        out = out.sort_values(by, key=lambda s: s.map(order)).reset_index(drop=True)
    else:
        out = out.sort_values("n_users", ascending=False, kind="stable").reset_index(drop=True)
    return out


def _item_segment_frame(report: EvaluationReport, by: str, items: pd.DataFrame | None) -> pd.DataFrame:
    items = items if items is not None else report.items
    if items is None or by not in items.columns:
        options = [c for c in report.per_user.columns if not c.islower() or c == HISTORY_BUCKET]
        raise ValidationError(f"cannot segment by {by!r}: it is neither a per-user column {options} nor a column "
                              "of the Items table; pass items=<items frame> for item categories")
    if report.lists is None:
        raise ValidationError("this report has no recommendation lists (saved without them); re-run evaluate() "
                              "to break down by item category")
    cats = items[[ITEM_ID, by]].dropna()
    cats = cats.assign(**{by: cats[by].astype(str).str.split("|")}).explode(by)
    cats[by] = cats[by].str.strip()
    cats = cats[cats[by] != ""]
    lists = report.lists
    truth = lists[[USER_ID, TRUTH]].explode(TRUTH).dropna().rename(columns={TRUTH: ITEM_ID})
    truth = truth.merge(cats.astype({ITEM_ID: object}), on=ITEM_ID)
    if truth.empty:
        raise ValidationError(f"no relevant item of the test users has a value in Items column {by!r}")
    per_seg = truth.groupby([by, USER_ID], sort=True)[ITEM_ID].agg(list).reset_index()
    recs = lists.set_index(USER_ID)[RECOMMENDED]
    recommended = [recs.loc[u] for u in per_seg[USER_ID]]
    values = M.ranking_metrics(recommended, list(per_seg[ITEM_ID]), report.ks)
    frame = per_seg[[by, USER_ID]].copy()
    for key, arr in values.items():
        frame[key] = arr
    return frame
