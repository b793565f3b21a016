"""Offline evaluation: splits, metrics with Personalize's keys, evaluate(), bootstrap CIs, compare() and segments.

Example::

    from recsys.evaluation import personalize_split, evaluate, compare
    split = personalize_split(data, test_user_fraction=0.1, holdout_fraction=0.1, seed=42)
    reports = {name: evaluate(name, split) for name in ("aws-popularity-count", "aws-user-personalization")}
    compare(reports)          # values, CIs, lift over popularity, paired bootstrap p-values
"""

from recsys.evaluation import metrics
from recsys.evaluation.compare import (
    Comparison, bootstrap_ci, bootstrap_means, compare, comparisons, paired_bootstrap, pairwise, segment_metrics,
)
from recsys.evaluation.metrics import PERSONALIZE_KEYS, display_name
from recsys.evaluation.report import EvaluationReport, evaluate, history_bucket
from recsys.evaluation.splits import (
    Split, default_split, leave_last_n_out, personalize_split, rating_split, segmentation_split, temporal_split,
)

__all__ = [
    "Comparison", "EvaluationReport", "PERSONALIZE_KEYS", "Split", "bootstrap_ci", "bootstrap_means", "compare",
    "comparisons", "default_split", "pairwise",
    "display_name", "evaluate", "history_bucket", "leave_last_n_out", "metrics", "paired_bootstrap",
    "personalize_split", "rating_split", "segment_metrics", "segmentation_split", "temporal_split",
]
