"""Data: create a dataset group, upload a file, map its columns, validate and import it, and profile the data."""

import json
import time
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from pages import common
from recsys import cleaning, datasets, display, ingest, uploads, workspace
from recsys.columns import DATASET_TYPES
from recsys.exceptions import ImportFailed, RecsysError
from recsys.schema import default_schema, parse_schema

REJECT_SLIDER = "Fail when more than this share of rows is rejected"
NO_RULE = "(no rule)"


def exclusion_rules_form(columns: list[str], dataset_type: str) -> list:
    """Rows of the file to leave out (cancelled orders, returns...): a column, a condition and a value per rule."""
    count_key = f"data_rules_{dataset_type}"
    with st.expander("Exclusion rules: leave out rows", expanded=st.session_state.get(count_key, 0) > 0):
        st.caption("Rows whose column meets a rule are not imported (e.g. invoice numbers starting with C are "
                   "cancellations; negative quantities are returns). They are counted as excluded, not rejected.")
        rules = []
        for k in range(st.session_state.get(count_key, 0) + 1):
            c1, c2, c3 = st.columns([2, 2, 2])
            column = c1.selectbox("Column", [NO_RULE] + columns, key=f"data_rule_col_{dataset_type}_{k}")
            condition = c2.selectbox("Condition", list(cleaning.CONDITIONS), key=f"data_rule_cond_{dataset_type}_{k}")
            value = c3.text_input("Value", key=f"data_rule_value_{dataset_type}_{k}",
                                  disabled=condition not in cleaning.NEEDS_VALUE)
            if column != NO_RULE:
                rules.append(cleaning.ExclusionRule(column, condition, value.strip()))
        if rules and st.button("Add another rule", key=f"data_rule_add_{dataset_type}"):
            st.session_state[count_key] = st.session_state.get(count_key, 0) + 1
            st.rerun()
        try:
            described = [r.describe() for r in rules if r.pattern()]
        except RecsysError as exc:
            st.error(str(exc))
            described = []
        if described:
            st.caption("Leaving out rows where " + " or ".join(described) + ".")
    return rules


def data_warnings(prof: dict) -> None:
    """The profile's warnings; suspect items get a one-click exclusion from training and recommendations."""
    excluded = set(cleaning.excluded_items(store, group))
    for warning in prof.get("warnings") or []:
        if warning["kind"] != "non_product_items":
            st.warning(warning["message"])
            continue
        suspects = [s for s in warning["items"] if s["itemId"] not in excluded]
        if not suspects:
            continue
        st.warning(warning["message"])
        names = display.item_names(store, group, [s["itemId"] for s in suspects])
        table = pd.DataFrame([{"exclude": True, "ITEM_ID": s["itemId"], display.NAME_COLUMN: names.get(s["itemId"], ""),
                               "interactions": s["interactions"], "why": "; ".join(s["reasons"])} for s in suspects])
        chosen = st.data_editor(table, hide_index=True, width="stretch", key="data_suspects",
                                disabled=["ITEM_ID", display.NAME_COLUMN, "interactions", "why"])
        picked = chosen.loc[chosen["exclude"], "ITEM_ID"].tolist()
        if st.button(f"Exclude these {len(picked):,} items", key="data_exclude_suspects", disabled=not picked):
            cleaning.exclude_items(store, group, picked)
            common.flash(f"Excluded {len(picked):,} items: they are no longer recommended, and models trained from "
                         "now on leave them out (retrain on the Train page).")
            st.rerun()


def names_and_exclusions() -> None:
    """The group's display column (item names everywhere) and its exclusion list."""
    st.markdown("**Item names**")
    candidates = display.name_candidates(store, group)
    if not candidates:
        common.empty_state("Items are shown by id only.",
                           "Import an Items file with a name or description column (Import tab, dataset Items).")
    else:
        current = display.display_column(store, group)
        column = st.selectbox("Show items by this field beside their id", candidates,
                              index=candidates.index(current) if current in candidates else 0,
                              key="data_display_column",
                              help="Used in Preview, the reasons, the event simulator, the pickers and the CSV "
                                   "exports (column ITEM_NAME).")
        if column != current:
            display.set_display_column(store, group, column)
            st.rerun()
        sample = common.cached_popular_items(group, 5)
        names = display.item_names(store, group, sample)
        if sample:
            st.caption("For example: " + "; ".join(display.label(i, names) for i in sample))
    st.markdown("**Excluded items**")
    excluded = cleaning.excluded_items(store, group)
    st.caption("Never recommended, and left out of every model trained after they were excluded.")
    with st.form("data_exclusions"):
        text = st.text_area("Item ids, one per line", "\n".join(excluded), height=150,
                            key=f"data_excluded_text_{hash(tuple(excluded))}")  # a new list: a fresh text
        if st.form_submit_button("Save the exclusion list"):
            saved = cleaning.set_excluded_items(store, group, text.replace(",", "\n").splitlines())
            common.flash(f"{len(saved):,} items excluded. Retrain to leave them out of the models too.")
            st.rerun()
    if excluded:
        names = display.item_names(store, group, excluded)
        st.dataframe(pd.DataFrame({"ITEM_ID": excluded, display.NAME_COLUMN: [names.get(i, "") for i in excluded]}),
                     hide_index=True, width="stretch")


st.title("Data")
store = common.get_store()
common.show_flash()

with st.expander("Create a dataset group", expanded=common.current_group() is None):
    with st.form("data_create_group"):
        name = st.text_input("Name", placeholder="my-shop", key="data_group_name")
        domain = st.selectbox("Domain", ["(custom)", "ECOMMERCE", "VIDEO_ON_DEMAND"], key="data_group_domain")
        if st.form_submit_button("Create group"):
            try:
                store.create_dataset_group(name, None if domain == "(custom)" else domain)
                common.select_group(name)
                common.flash(f"Created dataset group {name!r}. Next: upload its interactions below.")
                st.rerun()
            except RecsysError as exc:
                st.error(str(exc))

group = common.require_group()
if group is None:
    st.stop()
domain = store.get_dataset_group(group)["domain"]

tab_import, tab_schema, tab_profile, tab_names, tab_jobs = st.tabs(
    ["Import", "Schemas", "Profile", "Names & exclusions", "Import jobs"])

with tab_import:
    dataset_type = st.radio("Dataset", DATASET_TYPES, horizontal=True, key="data_import_type")
    upload = st.file_uploader("File (CSV, CSV.gz, Parquet, JSON lines or Avro)",
                              type=["csv", "gz", "tsv", "txt", "parquet", "jsonl", "json", "avro"], key="data_upload")
    if upload is None:
        common.empty_state("No file chosen.", "Upload a file; its columns are mapped to the schema fields next.")
    else:
        path = uploads.save_upload(store, upload.name, upload.getvalue())
        try:
            preview = uploads.preview(path, n=20)
        except RecsysError as exc:
            st.error(str(exc))
            st.stop()
        st.caption(f"Preview of `{upload.name}` (first rows)")
        st.dataframe(preview, hide_index=True, width="stretch")
        try:
            schema = datasets.get_dataset(store, group, dataset_type)["schema"]
        except RecsysError:
            schema = default_schema(dataset_type, domain)
        targets = ["(ignore)"] + list(schema.names)
        st.markdown("**Map columns to schema fields**")
        mapping, date_columns = {}, []
        guesses = uploads.guess_mapping(preview, schema.names)
        cols = st.columns(3)
        for i, column in enumerate(preview.columns):
            guess = guesses.get(column)
            with cols[i % 3]:
                target = st.selectbox(f"`{column}`", targets, index=targets.index(guess) if guess else 0,
                                      key=f"data_map_{dataset_type}_{column}")
                if target != "(ignore)":
                    mapping[column] = target
                    if target in ("TIMESTAMP", "CREATION_TIMESTAMP") and uploads.looks_like_dates(preview[column]):
                        if st.checkbox("parse dates", value=True, key=f"data_date_{dataset_type}_{column}"):
                            date_columns.append(column)
        fixed_timestamp = None
        if "TIMESTAMP" in schema.names and "TIMESTAMP" not in mapping.values():
            if st.checkbox("The file has no time column: give every row the import time (the rows keep their file "
                           "order, which orders each user's events)", key=f"data_fixed_time_{dataset_type}"):
                fixed_timestamp = int(time.time())
        rules = exclusion_rules_form(list(preview.columns), dataset_type)
        mode = st.radio("Import mode", ["FULL", "INCREMENTAL"], horizontal=True, key="data_mode",
                        help="FULL replaces all bulk data of the dataset; INCREMENTAL adds rows and updates ids.")
        max_rejected = st.slider(REJECT_SLIDER, 0.0, 1.0, 0.1, 0.05, key="data_max_rejected")
        if st.button("Validate and import", type="primary", key="data_import"):
            bar = st.progress(0.0, text="Importing...")

            def report(done, total):
                bar.progress(min(1.0, done / total) if total else 0.5, text=f"{done:,} rows read")

            try:
                job = ingest.import_file(store, group, dataset_type, path, mode=mode, column_map=mapping,
                                         date_columns=date_columns, exclude=cleaning.exclusion_patterns(rules),
                                         max_rejected_fraction=max_rejected, progress=report,
                                         fixed_timestamp=fixed_timestamp)
                bar.progress(1.0, text="Done")
                st.session_state["data_last_job"] = job.to_dict()
            except ImportFailed as exc:
                bar.empty()
                st.error(uploads.form_wording(exc))
                st.session_state["data_last_job"] = exc.job.to_dict() if exc.job else None
            except RecsysError as exc:
                bar.empty()
                st.error(uploads.form_wording(exc))
    last = st.session_state.get("data_last_job")
    if last:
        excluded = f", {last['rows_excluded']:,} excluded by the rules" if last.get("rows_excluded") else ""
        (st.success if last.get("status") == "ACTIVE" else st.warning)(
            f"Import job `{last.get('name')}` of `{Path(str(last.get('path', ''))).name}`: {last.get('status')} — "
            f"{last.get('rows_accepted', 0):,} rows accepted, {last.get('rows_rejected', 0):,} rejected{excluded}.")
        rejects = last.get("rejects_path")
        if (last.get("rows_rejected") or last.get("rows_excluded")) and rejects and Path(rejects).exists():
            rejected = pd.read_csv(rejects, dtype=str)
            if "reason" in rejected.columns:
                rejected["reason"] = rejected["reason"].map(uploads.form_wording)
            st.dataframe(rejected.head(200), hide_index=True, width="stretch")
            common.download_button(rejected, "Download rejected rows", "rejected-rows.csv", key="data_dl_rejects")

with tab_schema:
    for dataset_type in DATASET_TYPES:
        try:
            info = datasets.get_dataset(store, group, dataset_type)
            text = json.dumps(info["schema"].raw, indent=2)
            state = "in use"
        except RecsysError:
            text = json.dumps(default_schema(dataset_type, domain).raw, indent=2)
            state = "default, not created yet"
        with st.expander(f"{dataset_type} schema ({state})"):
            edited = st.text_area("Avro schema", text, height=260, key=f"data_schema_{dataset_type}")
            if st.button("Check and save", key=f"data_schema_save_{dataset_type}"):
                try:
                    schema = parse_schema(dataset_type, edited)
                    workspace.save_schema(store, group, dataset_type, schema)
                    st.success("Schema saved.")
                except RecsysError as exc:
                    st.error(str(exc))

with tab_profile:
    try:
        prof = common.cached_profile(group)
    except RecsysError as exc:
        prof = None
        common.empty_state(str(exc), "Import interactions first.")
    if prof:
        inter = prof.get("interactions", prof)
        c = st.columns(4)
        c[0].metric("Interactions", common.number(inter.get("rows"), ","))
        c[1].metric("Users", common.number(inter.get("users"), ","))
        c[2].metric("Items", common.number(inter.get("items"), ","))
        c[3].metric("Sparsity", common.number(inter.get("sparsity"), ".4f"),
                    help="Share of the user x item cells with no interaction (none until interactions are imported).")
        if prof.get("newer_events"):
            st.caption(f"Profile computed at {pd.Timestamp(prof['computed_at'], unit='s'):%H:%M:%S} UTC; "
                       f"{prof['newer_events']:,} newer events are not in it yet (large groups are profiled "
                       f"again at most every {common.PROFILE_MAX_AGE // 60} minutes).")
        minimums = prof.get("minimums") or inter.get("minimums") or {}
        if minimums:
            (st.success if minimums.get("ok") else st.warning)(minimums.get("message", ""))
        data_warnings(prof)
        charts = workspace.profile_chart_frames(prof)
        left, right = st.columns(2)
        if not charts["per_day"].empty:
            left.altair_chart(alt.Chart(charts["per_day"]).mark_area().encode(
                x=alt.X("day:T", title="Day"), y=alt.Y("interactions:Q", title="Interactions")
            ).properties(title="Interactions over time"), width="stretch")
        if not charts["long_tail"].empty:
            right.altair_chart(alt.Chart(charts["long_tail"]).mark_line().encode(
                x=alt.X("item_rank_share:Q", title="Share of items (most popular first)"),
                y=alt.Y("interaction_share:Q", title="Cumulative share of interactions"),
            ).properties(title="Long-tail popularity"), width="stretch")
        left, right = st.columns(2)
        if not charts["per_user"].empty:
            left.altair_chart(alt.Chart(charts["per_user"]).mark_bar().encode(
                x=alt.X("bin:N", title="Interactions per user", sort=None), y=alt.Y("users:Q", title="Users"),
            ).properties(title="Per-user activity"), width="stretch")
        if not charts["event_types"].empty:
            right.altair_chart(alt.Chart(charts["event_types"]).mark_bar().encode(
                x=alt.X("count:Q"), y=alt.Y("event_type:N", sort="-x", title="Event type"),
            ).properties(title="Event types"), width="stretch")
        if not charts["categories"].empty:
            st.altair_chart(alt.Chart(charts["categories"]).mark_bar().encode(
                x=alt.X("count:Q"), y=alt.Y("category:N", sort="-x", title=charts["category_field"]),
            ).properties(title="Category mix"), width="stretch")
        with st.expander("Full profile (JSON)"):
            st.json(prof, expanded=False)

with tab_names:
    names_and_exclusions()

with tab_jobs:
    jobs = pd.DataFrame(store.list_resources("dataset-import-job", group))
    if jobs.empty:
        common.empty_state("No import job yet.", "Import a file on the Import tab.")
    else:
        shown = [c for c in ["name", "dataset_type", "mode", "status", "rows_accepted", "rows_rejected",
                             "failure_reason"] if c in jobs.columns]
        st.dataframe(jobs[shown], hide_index=True, width="stretch")
        common.download_button(jobs[shown], "Download as CSV", f"{group}-import-jobs.csv", key="data_dl_jobs")
