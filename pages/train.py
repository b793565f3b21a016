"""Train: pick recipes and their parameters, start trainings in the background, watch their progress."""

import pandas as pd
import streamlit as st

from pages import common
from recsys import runs, solutions
from recsys.exceptions import ConflictError, RecsysError
from recsys.recipes import REGISTRY

st.title("Train")
store = common.get_store()
group = common.require_group()
if group is None:
    st.stop()

st.caption("Each training runs in the background: it evaluates the recipe with Personalize's protocol "
           "(10% of users held out, their newest 10% of events scored), then refits on all the data.")

with st.form("train_form"):
    recipes = st.multiselect(
        "Recipes", sorted(REGISTRY), default=["aws-user-personalization", "aws-popularity-count"], key="train_recipes",
        help="Several recipes queue one training each, run one after the other.",
    )
    event_type = st.text_input("Train only on this event type (optional)", key="train_event_type",
                               help="Personalize's eventType: leave empty to use every event type.")
    threshold = st.text_input("eventValueThreshold (optional)", key="train_threshold",
                              help="Keep only events whose EVENT_VALUE is at least this.")
    params = {}
    for name in recipes:
        cls = REGISTRY[name]
        with st.expander(f"{name} — {cls.recipe_type}: parameters"):
            st.caption((cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "")
            params[name] = common.param_widgets(cls, "train")
    submitted = st.form_submit_button("Start training", type="primary")

if submitted:
    for name in recipes:
        solution = store.name_for(solutions.SOLUTION, group, name.removeprefix("aws-").replace("_", "-"))
        try:
            solutions.create_solution(store, group, solution, name, params=params.get(name) or None,
                                     event_type=event_type or None, event_value_threshold=threshold or None)
        except ConflictError:
            pass  # the solution exists: train a new version of it
        except RecsysError as exc:
            st.error(f"{name}: {exc}")
            continue
        try:
            version = runs.create_solution_version(store, group, solution)
            st.toast(f"Queued {name}: {version.arn}")
        except RecsysError as exc:
            st.error(f"{name}: {exc}")


@st.fragment(run_every=2)
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
        if right.button("Cancel", key=f"train_cancel_{v.name}"):
            runs.cancel_solution_version(store, v.arn)
    rows = [{
        "solution": v.solution, "version": v.version_id, "recipe": v.recipe,
        "status": v.status, "mode": v.training_mode,
        "NDCG@10": (v.metrics or {}).get("normalized_discounted_cumulative_gain_at_10"),
        "training seconds": v.training_seconds, "peak memory MB": v.peak_memory_mb,
        "failure reason": v.failure_reason or "", "arn": v.arn,
    } for v in versions]
    frame = pd.DataFrame(rows)
    st.dataframe(frame, hide_index=True, width="stretch")
    common.download_button(frame, "Download as CSV", f"{group}-versions.csv", key="train_dl")


st.subheader("Solution versions")
versions_table()
