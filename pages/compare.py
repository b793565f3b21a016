"""Compare: trained versions side by side on Personalize's metrics, with the popularity baseline and confidence intervals."""

import altair as alt
import pandas as pd
import streamlit as st

from pages import common
from recsys import solutions, workspace
from recsys.evaluation import PERSONALIZE_KEYS, compare, display_name, segment_metrics
from recsys.exceptions import RecsysError

st.title("Compare")
store = common.get_store()
group = common.require_group()
if group is None:
    st.stop()

versions = [v for v in solutions.list_solution_versions(store, group) if v.status == "ACTIVE"]
if not versions:
    common.empty_state("No trained version to compare.", "Train at least two recipes on the **Train** page.")
    st.stop()

labels = {f"{v.solution} / {v.version_id} ({v.recipe})": v.arn for v in versions}
newest_per_solution = list(dict.fromkeys({v.solution: label for label, v in
                                          zip(labels, versions)}.values()))
chosen = st.multiselect("Versions", list(labels), default=newest_per_solution, key="compare_versions")
if not chosen:
    st.stop()

by_arn = {v.arn: v for v in versions}
reports = common.cached_evaluation_reports([by_arn[labels[c]] for c in chosen])
missing = [c for c in chosen if labels[c] not in reports]
if missing:
    st.warning("No per-user evaluation stored for: " + ", ".join(missing) + " (shown without confidence intervals).")

# The summary table: Personalize's metric keys for every chosen version.
summary = pd.DataFrame([{"version": c, **{display_name(k): (v.metrics or {}).get(k) for k in PERSONALIZE_KEYS}}
                        for c, v in ((c, solutions.get_solution_version(store, labels[c])) for c in chosen)])
protocols = {solutions.get_solution_version(store, labels[c]).metrics_protocol for c in chosen}
st.caption("Protocol: " + "; ".join(p for p in protocols if p))
st.dataframe(summary, hide_index=True, width="stretch")
common.download_button(summary, "Download as CSV", f"{group}-comparison.csv", key="compare_dl")

if len(reports) >= 1:
    metric = st.selectbox("Metric", [k for k in PERSONALIZE_KEYS if k != "coverage"], index=2,
                          format_func=display_name, key="compare_metric")
    named = {workspace.version_label(store, arn): r for arn, r in reports.items()}
    try:
        table = compare(named, metrics=[metric])
    except RecsysError as exc:
        st.error(str(exc))
        st.stop()
    chart_frame = table[["version", metric, f"{metric}_ci_low", f"{metric}_ci_high"]].rename(
        columns={metric: "value", f"{metric}_ci_low": "low", f"{metric}_ci_high": "high"})
    bars = alt.Chart(chart_frame).mark_bar().encode(
        y=alt.Y("version:N", sort="-x", title=None, axis=alt.Axis(labelLimit=360)),  # full version labels
        x=alt.X("value:Q", title=display_name(metric)))
    whiskers = alt.Chart(chart_frame).mark_rule(strokeWidth=2).encode(y="version:N", x="low:Q", x2="high:Q")
    st.altair_chart((bars + whiskers).properties(title=f"{display_name(metric)} with 95% bootstrap intervals"),
                    width="stretch")
    base = table.loc[table["is_baseline"], "version"].iloc[0]
    st.caption(f"Baseline: **{base}**. Lift and the paired-bootstrap p-value are against it; a p-value above "
               "0.05 means the difference may be noise.")
    shown = [c for c in ["version", "recipe", "n_test_users", metric, f"{metric}_ci_low", f"{metric}_ci_high",
                         f"{metric}_lift", f"{metric}_p_value"] if c in table.columns]
    st.dataframe(table[shown], hide_index=True, width="stretch")
    common.download_button(table, "Download detailed comparison", f"{group}-comparison-detailed.csv",
                           key="compare_dl_detail")

    st.subheader("Per-segment breakdown")
    options = workspace.segment_options(store, group, next(iter(named.values())))
    by = st.selectbox("Break down by", options, key="compare_segment_by")
    frames = []
    for name, report in named.items():
        try:
            seg = segment_metrics(report, by, items=common.cached_items(group), metrics=[metric],
                                  ci_metric=metric)
        except RecsysError as exc:
            st.info(f"{name}: {exc}")
            continue
        frames.append(seg.assign(version=name))
    if frames:
        segments = pd.concat(frames, ignore_index=True)
        st.altair_chart(alt.Chart(segments).mark_bar().encode(
            x=alt.X(f"{metric}:Q", title=display_name(metric)), y=alt.Y("version:N", title=None, axis=alt.Axis(labelLimit=360)),
            row=alt.Row(f"{by}:N", title=by), color="version:N",
        ), width="stretch")
        st.dataframe(segments, hide_index=True, width="stretch")
        common.download_button(segments, "Download segments", f"{group}-segments.csv", key="compare_dl_seg")
