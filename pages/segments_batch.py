"""Segments & Batch: batch recommendations and user segments for many inputs, downloadable as JSON lines and CSV."""

import time

import pandas as pd
import streamlit as st

from pages import common, pickers
from recsys import datasets, filters, queries, solutions, workspace
from recsys.columns import USERS
from recsys.exceptions import NotFoundError, RecsysError
from recsys.recipes import RELATED_ITEMS, USER_SEGMENTATION
from recsys.serving import batch
from recsys.store import ACTIVE

ACTIVE_USERS, ALL_USERS, USER_LIST = "Most active users", "All users", "A list of user ids (CSV)"
POPULAR_ITEMS, PICKED_ITEMS = "Most popular items", "Items I pick"
JSON_LINES = "Upload a JSON lines file"

st.title("Segments & Batch")
store = common.get_store()
group = common.require_group()
if group is None:
    st.stop()

versions = [v for v in solutions.list_solution_versions(store, group) if v.status == ACTIVE]
if not versions:
    common.empty_state("No trained version yet.", "Train a recipe on the **Train** page first.")
    st.stop()

# Personalized recipes first (what a campaign export is usually made of), related items and baselines after.
inference_versions = sorted((v for v in versions if v.recipe_type != USER_SEGMENTATION),
                            key=lambda v: (v.recipe_type == RELATED_ITEMS,
                                           v.recipe in ("aws-popularity-count", "aws-trending-now")))
segment_versions = [v for v in versions if v.recipe_type == USER_SEGMENTATION]
label = lambda v: f"{v.solution}/{v.version_id} ({v.recipe})"  # noqa: E731


def saved_filters(target: str) -> dict[str, str]:
    """{name: arn} of the group's saved filters on `target` (ItemID for recommendations, UserID for segments)."""
    out = {}
    for f in filters.list_filters(store, group):
        if filters.is_adhoc_filter(f.name):
            continue
        try:
            if filters.parse_filter(f.filter_expression).target == target:
                out[f.name] = f.arn
        except RecsysError:
            continue
    return out


def user_fields() -> list[str]:
    try:
        schema = datasets.get_dataset(store, group, USERS)["schema"]
    except NotFoundError:
        return []
    return [name for name in schema.names if name != "USER_ID"]


def job_output(name: str):
    return store.artifact_path("batch", group, name, "x").parent


def progress_bar(text: str):
    bar = st.progress(0.0, text=text)
    return bar, lambda done, total: bar.progress(min(1.0, done / max(total, 1)),
                                                 text=f"{done:,} of {total:,} lines")


tab_batch, tab_segments, tab_jobs = st.tabs(["Batch recommendations", "User segments", "Jobs"])

with tab_batch:
    if not inference_versions:
        common.empty_state("No version for batch recommendations.", "Train e.g. aws-user-personalization.")
    else:
        version = st.selectbox("Version", inference_versions, format_func=label, key="batch_version")
        related = version.recipe_type == RELATED_ITEMS
        source = st.radio("Input", [POPULAR_ITEMS, PICKED_ITEMS, JSON_LINES] if related
                          else [ACTIVE_USERS, ALL_USERS, USER_LIST, JSON_LINES], horizontal=True, key="batch_source")
        count, listed, picked, problem, lines = 100, None, [], None, None
        if source in (ACTIVE_USERS, POPULAR_ITEMS):
            count = st.number_input("How many", 1, 1_000_000, 100, key="batch_count")
        elif source == PICKED_ITEMS:
            picked = pickers.items_picker(group, "Items", "batch_items")
        elif source == JSON_LINES:
            lines = st.file_uploader("Personalize's batch input: one {\"userId\": ...} or {\"itemId\": ...} per line",
                                     type=["jsonl", "json"], key="batch_upload")
        elif source == USER_LIST:
            upload = st.file_uploader("Upload a CSV of user ids (a column such as USER_ID or CustomerID, or one id "
                                      "per line)", type=["csv", "txt"], key="batch_user_file")
            pasted = st.text_area("...or paste user ids, one per line", key="batch_user_text", height=100)
            text = upload.getvalue().decode("utf-8-sig", errors="replace") if upload is not None else pasted
            if text.strip():
                try:
                    listed = workspace.user_ids_from_csv(text)
                    st.caption(f"{len(listed):,} user ids, e.g. {', '.join(listed[:5])}")
                except RecsysError as exc:
                    problem = str(exc)
                    st.error(problem)
        num_results = st.slider("numResults", 1, 100, 10, key="batch_num")
        named = saved_filters("ItemID")
        flt = st.selectbox("Filter", ["(none)"] + list(named), key="batch_filter")
        exclude_seen = (not related) and st.checkbox("Leave out items the user already interacted with",
                                                     key="batch_exclude_seen")
        item_columns = st.multiselect("Item columns in the CSV", workspace.item_fields(store, group), key="batch_cols")
        missing = ((source == USER_LIST and not listed) or (source == PICKED_ITEMS and not picked)
                   or (source == JSON_LINES and lines is None))
        if st.button("Run batch inference job", type="primary", key="batch_run", disabled=missing or bool(problem)):
            job_name = f"batch-{int(time.time() * 1000)}"
            out_dir = job_output(job_name)
            if source == JSON_LINES:
                input_path = out_dir / "input.jsonl"
                input_path.write_bytes(lines.getvalue())
            elif related:
                item_ids = picked if source == PICKED_ITEMS else queries.popular_items(store, group, int(count))
                input_path = workspace.write_batch_input(store, group, "items", item_ids=item_ids)
            else:
                user_ids = (listed if source == USER_LIST else workspace.all_user_ids(store, group)
                            if source == ALL_USERS else queries.active_users(store, group, int(count)))
                input_path = workspace.write_batch_input(store, group, "users", user_ids=user_ids)
            bar, report = progress_bar("Scoring...")
            try:
                job = batch.create_batch_inference_job(
                    store, group, job_name, version.arn, input_path, out_dir / "output.jsonl",
                    num_results=num_results, filter_arn=named.get(flt), csv_path=out_dir / "output.csv",
                    item_columns=item_columns, exclude_seen=exclude_seen, with_names=True, progress=report)
                st.session_state["batch_last"] = job.name
                bar.progress(1.0, text=f"Done: {job.lines_done:,} lines in {job.seconds:.1f} s")
            except RecsysError as exc:
                bar.empty()
                st.error(str(exc))
        last = st.session_state.get("batch_last")
        if last:
            out_dir = job_output(last)
            csv = out_dir / "output.csv"
            if csv.exists():
                frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
                st.caption(f"Job `{last}`: {len(frame):,} rows")
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
            inputs = pickers.items_picker(group, "Items (one segment each)", "segments_items",
                                          default=pickers.search_items(group, "", 3))
        users_per_segment = st.number_input("Users per segment (numResults)", 1, 1_000_000, 100, key="segments_num")
        exclude_interacted = st.checkbox("Leave out users who already interacted with the item", value=True,
                                         key="segments_exclude_interacted",
                                         help="A UserID filter on the job, as Personalize's segment jobs take: "
                                              "existing buyers are not targeted again.")
        named = saved_filters("UserID")
        flt = st.selectbox("User filter", ["(none)"] + list(named), key="segments_filter",
                           help="A saved UserID filter, e.g. EXCLUDE UserID WHERE Users.COUNTRY IN (\"...\").")
        fields = user_fields()
        user_columns = st.multiselect("User attributes in the CSV", fields, default=fields[:2],
                                      key="segments_user_columns")
        if st.button("Run batch segment job", type="primary", key="segments_run", disabled=not inputs):
            job_name = f"segment-{int(time.time() * 1000)}"
            out_dir = job_output(job_name)
            input_path = workspace.write_batch_input(store, group, "attributes" if attribute else "items",
                                                     item_ids=inputs, attributes=inputs)
            bar, report = progress_bar("Finding users...")
            try:
                job = batch.create_batch_segment_job(
                    store, group, job_name, version.arn, input_path, out_dir / "output.jsonl",
                    num_results=int(users_per_segment), csv_path=out_dir / "output.csv", user_columns=user_columns,
                    filter_arn=named.get(flt), exclude_interacted=exclude_interacted, with_names=True,
                    with_scores=True, progress=report)
                st.session_state["segments_last"] = job.name
                bar.progress(1.0, text=f"Done: {job.lines_done:,} segments")
            except RecsysError as exc:
                bar.empty()
                st.error(str(exc))
        last = st.session_state.get("segments_last")
        if last:
            out_dir = job_output(last)
            csv = out_dir / "output.csv"
            if csv.exists():
                frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
                st.caption(f"Job `{last}`: {len(frame):,} rows")
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
