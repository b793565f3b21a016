"""Segments & Batch: batch recommendations and user segments for many inputs, downloadable as JSON lines and CSV."""

import time

import pandas as pd
import streamlit as st

from pages import common
from recsys import filters, queries, solutions, workspace
from recsys.exceptions import RecsysError
from recsys.recipes import RELATED_ITEMS, USER_SEGMENTATION
from recsys.serving import batch
from recsys.store import ACTIVE

st.title("Segments & Batch")
store = common.get_store()
group = common.require_group()
if group is None:
    st.stop()

versions = [v for v in solutions.list_solution_versions(store, group) if v.status == ACTIVE]
if not versions:
    common.empty_state("No trained version yet.", "Train a recipe on the **Train** page first.")
    st.stop()

inference_versions = [v for v in versions if v.recipe_type != USER_SEGMENTATION]
segment_versions = [v for v in versions if v.recipe_type == USER_SEGMENTATION]
label = lambda v: f"{v.solution}/{v.version_id} ({v.recipe})"  # noqa: E731

tab_batch, tab_segments, tab_jobs = st.tabs(["Batch recommendations", "User segments", "Jobs"])

with tab_batch:
    if not inference_versions:
        common.empty_state("No version for batch recommendations.", "Train e.g. aws-user-personalization.")
    else:
        version = st.selectbox("Version", inference_versions, format_func=label, key="batch_version")
        related = version.recipe_type == RELATED_ITEMS
        source = st.radio("Input", ["Most active users" if not related else "Most popular items",
                                    "Upload a JSON lines file"], horizontal=True, key="batch_source")
        upload = None
        count = 100
        if source.startswith("Upload"):
            upload = st.file_uploader("JSON lines: {\"userId\": ...} or {\"itemId\": ...} per line", type=["jsonl", "json"],
                                      key="batch_upload")
        else:
            count = st.number_input("How many", 1, 100_000, 100, key="batch_count")
        num_results = st.slider("numResults", 1, 100, 10, key="batch_num")
        named = {f.name: f.arn for f in filters.list_filters(store, group) if not filters.is_adhoc_filter(f.name)}
        flt = st.selectbox("Filter", ["(none)"] + list(named), key="batch_filter")
        item_columns = st.multiselect("Item columns in the CSV", workspace.item_fields(store, group), key="batch_cols")
        if st.button("Run batch inference job", type="primary", key="batch_run"):
            job_name = f"batch-{int(time.time())}"
            out_dir = store.artifact_path("batch", group, job_name, "x").parent
            if upload is not None:
                input_path = out_dir / "input.jsonl"
                input_path.write_bytes(upload.getvalue())
            elif related:
                input_path = workspace.write_batch_input(store, group, "items",
                                                         item_ids=queries.popular_items(store, group, int(count)))
            else:
                input_path = workspace.write_batch_input(store, group, "users",
                                                         user_ids=queries.active_users(store, group, int(count)))
            bar = st.progress(0.0, text="Scoring...")
            try:
                job = batch.create_batch_inference_job(
                    store, group, job_name, version.arn, input_path, out_dir / "output.jsonl",
                    num_results=num_results, filter_arn=named.get(flt), csv_path=out_dir / "output.csv",
                    item_columns=item_columns,
                    progress=lambda done, total: bar.progress(min(1.0, done / max(total, 1)), text=f"{done:,} lines"))
                st.session_state["batch_last"] = job.name
                bar.progress(1.0, text=f"Done: {job.name}")
            except RecsysError as exc:
                st.error(str(exc))
        last = st.session_state.get("batch_last")
        if last:
            out_dir = store.artifact_path("batch", group, last, "x").parent
            csv = out_dir / "output.csv"
            if csv.exists():
                frame = pd.read_csv(csv, dtype=str)
                st.dataframe(frame.head(200), hide_index=True, width="stretch")
                st.download_button("Download CSV", csv.read_bytes(), file_name=f"{last}.csv", mime="text/csv",
                                   key="batch_dl_csv")
                st.download_button("Download JSON lines", (out_dir / "output.jsonl").read_bytes(),
                                   file_name=f"{last}.jsonl", mime="application/jsonl", key="batch_dl_jsonl")

with tab_segments:
    if not segment_versions:
        common.empty_state("No user-segmentation version yet.",
                           "Train aws-item-affinity or aws-item-attribute-affinity on the **Train** page.")
    else:
        version = st.selectbox("Version", segment_versions, format_func=label, key="segments_version")
        attribute = version.recipe == "aws-item-attribute-affinity"
        if attribute:
            text = st.text_area("Item attribute expressions, one per line",
                                'ITEMS.CATEGORY_L1 = "books"', key="segments_attributes")
            inputs = [t.strip() for t in text.splitlines() if t.strip()]
        else:
            text = st.text_area("Item ids, one per line", "\n".join(common.cached_popular_items(group, 3)),
                                key="segments_items")
            inputs = [t.strip() for t in text.splitlines() if t.strip()]
        users_per_segment = st.number_input("Users per segment (numResults)", 1, 1_000_000, 100, key="segments_num")
        if st.button("Run batch segment job", type="primary", key="segments_run") and inputs:
            job_name = f"segment-{int(time.time())}"
            out_dir = store.artifact_path("batch", group, job_name, "x").parent
            input_path = workspace.write_batch_input(store, group, "attributes" if attribute else "items",
                                                     item_ids=inputs, attributes=inputs)
            try:
                job = batch.create_batch_segment_job(store, group, job_name, version.arn, input_path,
                                                     out_dir / "output.jsonl", num_results=int(users_per_segment),
                                                     csv_path=out_dir / "output.csv")
                st.session_state["segments_last"] = job.name
            except RecsysError as exc:
                st.error(str(exc))
        last = st.session_state.get("segments_last")
        if last:
            out_dir = store.artifact_path("batch", group, last, "x").parent
            csv = out_dir / "output.csv"
            if csv.exists():
                frame = pd.read_csv(csv, dtype=str)
                st.dataframe(frame.head(200), hide_index=True, width="stretch")
                st.download_button("Download segment CSV", csv.read_bytes(), file_name=f"{last}.csv",
                                   mime="text/csv", key="segments_dl_csv")

with tab_jobs:
    jobs = batch.list_batch_jobs(store, group) + batch.list_batch_jobs(store, group, kind=batch.BATCH_SEGMENT_JOB)
    if not jobs:
        common.empty_state("No batch job yet.", "Run one on the other tabs.")
    else:
        frame = pd.DataFrame([{k: getattr(j, k) for k in ("kind", "name", "status", "recipe_type", "num_results",
                                                           "lines_total", "failure_reason", "output_path")}
                              for j in jobs]).rename(columns={"kind": "type"})
        st.dataframe(frame, hide_index=True, width="stretch")
        common.download_button(frame, "Download as CSV", f"{group}-batch-jobs.csv", key="jobs_dl")
