"""Train: pick recipes and their parameters, start trainings in the background, watch their progress."""

import pandas as pd
import streamlit as st

from pages import common
from recsys import runs, solutions, workspace
from recsys.exceptions import RecsysError
from recsys.recipes import REGISTRY
from recsys.recipes.auto_tune import choice_lines
from recsys.spark import spark_installed

st.title("Train")
store = common.get_store()
group = common.require_group()
if group is None:
    st.stop()

st.caption("Each training runs in the background: it evaluates the recipe with Personalize's protocol "
           "(10% of users held out, their newest 10% of events scored), then refits on all the data.")

# Recipes are outside the form: their parameter sections below must appear as soon as a recipe is picked.
recipes = st.multiselect(
    "Recipes", sorted(REGISTRY), default=["aws-user-personalization", "aws-popularity-count"], key="train_recipes",
    format_func=lambda name: common.recipe_label(REGISTRY[name]), persist_state=common.KEEP,
    help="Several recipes queue one training each, run one after the other.",
)
for name in recipes:
    st.caption(f"**{name}**: {common.recipe_help(REGISTRY[name])}")
ALL_EVENTS = "(every event type)"

with st.form("train_form", enter_to_submit=False):
    event_types = [ALL_EVENTS] + common.cached_event_types(group)
    event_type = st.selectbox("Train on", event_types, key="train_event_type", persist_state=common.KEEP,
                              help="Personalize's eventType: train on one event type only, or on all of them.")
    threshold = st.text_input("Keep events whose value is at least (optional)", key="train_threshold",
                              persist_state=common.KEEP,
                              help="Personalize's eventValueThreshold: drops events with a lower EVENT_VALUE.")
    engine, spark_master = "workspace default", None
    if spark_installed():  # the choice only where pyspark is installed (make spark)
        engine_col, master_col = st.columns([1, 2])
        engine = engine_col.selectbox(
            "Engine", ["workspace default", "local", "spark"], key="train_engine",
            help="Where the training runs: this machine, or Apache Spark; Spark trains aws-user-personalization "
                 "(ALS), popularity, trending and SIMS into the same artifacts.")
        spark_master = master_col.text_input("Spark master", "local[2]", key="train_spark_master",
                                             help="local[*], spark://host:7077 or yarn (used with the spark engine).")
    params = {}
    for name in recipes:
        cls = REGISTRY[name]
        if cls.param_info:
            with st.expander(f"{name}: parameters"):
                params[name] = common.param_widgets(cls, "train")
    submitted = st.form_submit_button("Start training", type="primary")

if submitted:
    for name in recipes:
        try:
            version = workspace.train_recipe(store, group, name, params.get(name) or None,
                                             event_type=None if event_type == ALL_EVENTS else event_type,
                                             event_value_threshold=threshold.strip() or None,
                                             engine=None if engine == "workspace default" else
                                             {"name": engine, "master": spark_master} if engine == "spark" else engine)
            st.toast(f"Queued {common.recipe_label(REGISTRY[name])} as solution {version.solution}")
        except RecsysError as exc:
            st.error(f"{name}: {exc}")


@st.fragment(run_every=2)
@common.guard("Train: solution versions")
def versions_table():
    versions = solutions.list_solution_versions(store, group)
    if not versions:
        common.empty_state("No solution version yet.", "Pick recipes above and start a training.")
        return
    running = [v for v in versions if v.status in ("CREATE PENDING", "CREATE IN_PROGRESS", "CREATE STOPPING")]
    for v in running:
        progress = v.progress or {}
        eta = progress.get("eta_seconds")
        text = f"{v.name}: {progress.get('stage', 'queued')}" + (f", about {eta:.0f} s left" if eta else "")
        left, right = st.columns([5, 1])
        left.progress(min(1.0, (progress.get("percent") or 0) / 100), text=text)
        if v.status != "CREATE STOPPING" and right.button("Cancel", key=f"train_cancel_{v.name}"):
            try:
                runs.cancel_solution_version(store, v.arn)
            except RecsysError as exc:  # it ended meanwhile
                st.info(str(exc))
    rows = [{
        "solution": v.solution, "version": v.version_id, "recipe": v.recipe,
        "status": v.status, "mode": v.training_mode, "engine": (v.engine or {}).get("name", "local"),
        "NDCG@10": (v.metrics or {}).get("normalized_discounted_cumulative_gain_at_10"),
        "training seconds": v.training_seconds, "peak memory MB": v.peak_memory_mb,
        "failure reason": v.failure_reason or "", "arn": v.arn,
    } for v in versions]
    frame = pd.DataFrame(rows)
    st.dataframe(common.readable(frame), hide_index=True, width="stretch")
    common.download_button(frame, "Download as CSV", f"{group}-versions.csv", key="train_dl")
    newest_tuned = {}
    for v in versions:  # newest first: the newest self-tuned version of each solution
        if v.status == "ACTIVE" and v.auto_tune:
            newest_tuned.setdefault(v.solution, v)
    for v in newest_tuned.values():
        with st.expander(f"{v.name}: the settings the recipe chose on its validation split"):
            st.markdown("\n".join(f"- {line}" for line in choice_lines(v.auto_tune)))


st.subheader("Solution versions")
versions_table()
