"""Tune: hyperparameter optimisation (Personalize's performHPO) with a trials chart, and promotion of the best parameters."""

import altair as alt
import pandas as pd
import streamlit as st

from pages import common
from recsys import runs, solutions
from recsys.evaluation import PERSONALIZE_KEYS, display_name
from recsys.exceptions import RecsysError
from recsys.recipes import REGISTRY

st.title("Tune")
store = common.get_store()
group = common.require_group()
if group is None:
    st.stop()

tunable = {name: cls for name, cls in sorted(REGISTRY.items())
           if any(info.hpo for info in cls.param_info.values())}
st.caption("Trials are scored on a validation split of the training users only; the test users of the final "
           "evaluation are never seen while tuning.")

with st.form("tune_form"):
    recipe = st.selectbox("Recipe", list(tunable), index=list(tunable).index("aws-user-personalization")
                          if "aws-user-personalization" in tunable else 0, key="tune_recipe")
    cls = tunable[recipe]
    objective = st.selectbox("Objective metric", list(PERSONALIZE_KEYS) + ["recall_at_10", "hit_rate_at_10"],
                             index=3, format_func=display_name, key="tune_objective")
    max_trials = st.slider("maxNumberOfTrainingJobs (trial budget)", 2, 40, 8, key="tune_max_trials")
    integer_ranges, continuous_ranges, categorical_ranges = [], [], []
    for name, info in cls.param_info.items():
        if not info.hpo:
            continue
        st.markdown(f"`{name}` — {info.help}")
        if info.kind in ("int", "float") and info.range:
            low, high = info.range
            cast = int if info.kind == "int" else float
            c1, c2 = st.columns(2)
            lo = c1.number_input("min", value=cast(low), key=f"tune_{recipe}_{name}_min")
            hi = c2.number_input("max", value=cast(high), key=f"tune_{recipe}_{name}_max")
            (integer_ranges if info.kind == "int" else continuous_ranges).append(
                {"name": name, "minValue": cast(lo), "maxValue": cast(hi)})
        elif info.choices or info.kind == "bool":
            values = [str(v).lower() for v in (info.choices or (True, False))]
            picked = st.multiselect("values", values, default=values, key=f"tune_{recipe}_{name}_values")
            categorical_ranges.append({"name": name, "values": picked})
    start = st.form_submit_button("Start tuning", type="primary")

if start:
    hpo_config = {
        "hpoObjective": {"type": "Maximize", "metricName": objective},
        "hpoResourceConfig": {"maxNumberOfTrainingJobs": str(max_trials)},
        "algorithmHyperParameterRanges": {
            "integerHyperParameterRanges": integer_ranges,
            "continuousHyperParameterRanges": continuous_ranges,
            "categoricalHyperParameterRanges": categorical_ranges,
        },
    }
    existing = {s.name for s in solutions.list_solutions(store, group)}
    base = f"{recipe.removeprefix('aws-')}-hpo"
    name = next(f"{base}-{i}" for i in range(1, 1000) if f"{base}-{i}" not in existing)
    try:
        solutions.create_solution(store, group, name, recipe, perform_hpo=True, hpo_config=hpo_config)
        version = runs.create_solution_version(store, group, name)
        st.toast(f"Tuning started: {version.arn}")
    except RecsysError as exc:
        st.error(str(exc))


@st.fragment(run_every=3)
def tuning_runs():
    runs = [v for v in solutions.list_solution_versions(store, group)
            if solutions.get_solution(store, group, v.solution).perform_hpo]
    if not runs:
        common.empty_state("No tuning run yet.", "Choose ranges above and start tuning.")
        return
    for v in runs:
        with st.container(border=True):
            st.markdown(f"**{v.solution} / {v.version_id}** — {v.status}")
            progress = v.progress or {}
            if v.status in ("CREATE PENDING", "CREATE IN_PROGRESS"):
                st.progress(min(1.0, (progress.get("percent") or 0) / 100), text=progress.get("stage", "queued"))
            hpo = v.hpo or {}
            trials = pd.DataFrame(hpo.get("trials") or [])
            if trials.empty:
                continue
            value_col = "value" if "value" in trials.columns else trials.columns[-1]
            trials = trials.reset_index(names="trial")
            st.altair_chart(alt.Chart(trials).mark_circle(size=80).encode(
                x=alt.X("trial:Q", title="Trial"), y=alt.Y(f"{value_col}:Q", title=display_name(hpo.get("objective") or "")),
                tooltip=list(trials.columns),
            ).properties(title="Trials"), width="stretch")
            st.dataframe(trials, hide_index=True, width="stretch")
            common.download_button(trials, "Download trials", f"{v.solution}-trials.csv",
                                   key=f"tune_dl_{v.name}")
            best = hpo.get("best_params") or {}
            st.write("Best parameters:", best)
            if best and v.status == "ACTIVE" and st.button("Promote: train a solution with these parameters",
                                                             key=f"tune_promote_{v.name}"):
                name = f"{v.solution}-best"
                try:
                    solutions.create_solution(store, group, name, v.recipe, params=best)
                    runs.create_solution_version(store, group, name)
                    st.toast(f"Training {name} with the best parameters")
                except RecsysError as exc:
                    st.error(str(exc))


st.subheader("Tuning runs")
tuning_runs()
