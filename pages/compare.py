"""Compare: who wins, by how much and how sure, for trained versions of the same recipe type and protocol."""

import altair as alt
import pandas as pd
import streamlit as st

from pages import common
from recsys import solutions, workspace
from recsys.evaluation import PERSONALIZE_KEYS, display_name, segment_metrics
from recsys.exceptions import RecsysError
from recsys.recipes.auto_tune import choice_lines

st.title("Compare")
store = common.get_store()
group = common.require_group()
if group is None:
    st.stop()

versions = [v for v in solutions.list_solution_versions(store, group) if v.status == "ACTIVE"]
if not versions:
    common.empty_state("No trained version to compare.", "Train at least two recipes on the **Train** page.")
    st.stop()

labels = {workspace.version_label(store, v.arn): v for v in versions}
newest_per_solution = list({v.solution: label for label, v in labels.items()}.values())
chosen = st.multiselect("Versions", list(labels), default=newest_per_solution, key="compare_versions",
                        persist_state=common.KEEP)
if not chosen:
    common.empty_state("No version chosen.", "Pick the versions to compare above.")
    st.stop()

metric = st.selectbox("Metric", [k for k in PERSONALIZE_KEYS if k != "coverage"], index=2,
                      format_func=display_name, key="compare_metric", persist_state=common.KEEP,
                      help="Versions whose recipe type has no such metric (segmentation) use their own.")
reports = common.cached_evaluation_reports([labels[c] for c in chosen])
short = workspace.short_labels(store, [labels[c].arn for c in chosen])  # names in verdicts and tables
by_name = {short[labels[c].arn]: labels[c] for c in chosen}
missing = [c for c in chosen if labels[c].arn not in reports]
if missing:
    st.warning("Not compared, no per-user evaluation stored: " + "; ".join(
        f"{c} ({labels[c].evaluation_error or 'trained without an evaluation'})" for c in missing))
if len(missing) == len(chosen):
    st.stop()
try:
    sets = common.cached_comparisons(by_name, metric)
except RecsysError as exc:
    st.error(str(exc))
    st.stop()

st.caption("Each verdict compares two versions on the same test users (paired bootstrap of the per-user "
           "differences): a difference whose 95% interval includes 0 may be noise. Versions of different recipe "
           "types or evaluation protocols are compared in separate tables.")

for n, comparison in enumerate(sets):
    name = display_name(comparison.metric)
    st.subheader(comparison.title)
    st.caption(f"Protocol: {comparison.protocol}")
    if comparison.verdicts.empty:
        st.info(f"Only {next(iter(comparison.reports))} here: train another recipe of this type to compare.")
    for verdict, clear in zip(comparison.verdicts["verdict"], comparison.verdicts["clear"]):
        st.markdown(f"- {'**' + verdict + '**' if clear else verdict}")

    table = comparison.readable()
    base = comparison.table.loc[comparison.table["is_baseline"], "version"].iloc[0]
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        name: st.column_config.NumberColumn(format="%.4f"),
        "95% CI low": st.column_config.NumberColumn(format="%.4f"),
        "95% CI high": st.column_config.NumberColumn(format="%.4f"),
        "lift % vs baseline": st.column_config.NumberColumn(format="%+.1f%%", help=f"Baseline: {base}"),
        "p-value": st.column_config.NumberColumn(format="%.3f", help="Paired bootstrap against the baseline"),
    })
    chart = table.rename(columns={name: "value", "95% CI low": "low", "95% CI high": "high"})
    bars = alt.Chart(chart).mark_bar().encode(
        y=alt.Y("version:N", sort="-x", title=None, axis=alt.Axis(labelLimit=360)),  # full version labels
        x=alt.X("value:Q", title=name))
    whiskers = alt.Chart(chart).mark_rule(strokeWidth=2).encode(y=alt.Y("version:N", sort="-x"), x="low:Q",
                                                                x2="high:Q")
    st.altair_chart((bars + whiskers).properties(title=f"{name} with 95% bootstrap intervals"), width="stretch")

    keys = list(dict.fromkeys(k for c in comparison.reports for k in (by_name[c].metrics or {})))
    metrics = pd.DataFrame([{"version": c, **{display_name(k): (by_name[c].metrics or {}).get(k) for k in keys}}
                            for c in comparison.reports])
    with st.expander("Every metric of these versions"):
        st.dataframe(metrics, hide_index=True, width="stretch")
    tuned = {c: by_name[c].auto_tune for c in comparison.reports if by_name[c].auto_tune}
    if tuned:
        with st.expander("The settings each recipe chose on its validation split"):
            for c, report in tuned.items():
                st.markdown(f"**{c}**\n" + "\n".join(f"- {line}" for line in choice_lines(report)))
    common.download_button(comparison.table, "Download the detailed comparison",
                           f"{group}-comparison-{n + 1}.csv", key=f"compare_dl_{n}")

    with st.expander("Per-segment breakdown"):
        first = next(iter(comparison.reports.values()))
        by = st.selectbox("Break down by", workspace.segment_options(store, group, first),
                          key=f"compare_segment_by_{n}", persist_state=common.KEEP)
        frames = []
        for label, report in comparison.reports.items():
            try:
                seg = segment_metrics(report, by, items=common.cached_items(group), metrics=[comparison.metric],
                                      ci_metric=comparison.metric)
            except RecsysError as exc:
                st.info(f"{label}: {exc}")
                continue
            frames.append(seg.assign(version=label))
        if frames:
            segments = pd.concat(frames, ignore_index=True)
            order = list(dict.fromkeys(x for f in frames for x in f[by]))  # segment_metrics' order: 1-4, 5-19...
            st.altair_chart(alt.Chart(segments).mark_bar().encode(
                x=alt.X(f"{comparison.metric}:Q", title=name),
                y=alt.Y("version:N", title=None, axis=alt.Axis(labelLimit=360)),
                row=alt.Row(f"{by}:N", title=by, sort=order), color="version:N",
            ), width="stretch")
            m = comparison.metric
            st.dataframe(segments.rename(columns={m: name, f"{m}_ci_low": "95% CI low", f"{m}_ci_high": "95% CI high",
                                                  "n_users": "users"}), hide_index=True, width="stretch")
            common.download_button(segments, "Download segments", f"{group}-segments-{n + 1}.csv",
                                   key=f"compare_dl_seg_{n}")
