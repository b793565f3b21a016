"""Tune: hyperparameter optimisation (Personalize's performHPO) with live trials, Cancel, and promotion of the best."""

import altair as alt
import pandas as pd
import streamlit as st

from pages import common
from recsys import runs, solutions, tuning, workspace
from recsys.evaluation import PERSONALIZE_KEYS, display_name
from recsys.exceptions import RecsysError
from recsys.recipes import REGISTRY

RUNNING = ("CREATE PENDING", "CREATE IN_PROGRESS", "CREATE STOPPING")

st.title("Tune")
store = common.get_store()
common.show_flash()
group = common.require_group()
if group is None:
    st.stop()

tunable = {name: cls for name, cls in sorted(REGISTRY.items())
           if any(info.hpo for info in cls.param_info.values())}
st.caption("Trials are scored on a validation split of the training users only; the test users of the final "
           "evaluation are never seen while tuning.")

# The recipe is outside the form: its ranges below must change as soon as another recipe is picked.
recipe = st.selectbox("Recipe", list(tunable), index=list(tunable).index("aws-user-personalization")
                      if "aws-user-personalization" in tunable else 0, key="tune_recipe",
                      format_func=lambda name: common.recipe_label(tunable[name]), persist_state=common.KEEP)
cls = tunable[recipe]
st.caption(common.recipe_help(cls))
defaults = tuning.default_ranges(cls)

# Enter in a number field must not submit (it started a second run while the user meant to edit the next field).
with st.form("tune_form", enter_to_submit=False):
    left, right = st.columns(2)
    objective = left.selectbox("Objective metric", list(PERSONALIZE_KEYS) + ["recall_at_10", "hit_rate_at_10"],
                               index=3, format_func=display_name, key="tune_objective", persist_state=common.KEEP)
    max_trials = right.slider("Number of trials (maxNumberOfTrainingJobs)", 2, tuning.MAX_TRAINING_JOBS, 8,
                              key="tune_max_trials", help="Each trial trains and scores the recipe once.",
                              persist_state=common.KEEP)
    ranges = {"integerHyperParameterRanges": [], "continuousHyperParameterRanges": [],
              "categoricalHyperParameterRanges": []}
    for kind in ("integer", "continuous"):
        for entry in defaults[f"{kind}HyperParameterRanges"]:
            name, log_scale = entry["name"], entry.get("scalingType") == "Logarithmic"
            info = cls.param_info[name]
            cast = int if kind == "integer" else float
            st.markdown(f"**{common.param_label(name)}** — {info.help}" + (" (searched on a log scale)" if log_scale
                                                                           else ""))
            c1, c2 = st.columns(2)
            # A log scale cannot reach 0: its fields cannot go below a tiny positive number.
            floor = (cast(1) if kind == "integer" else 1e-12) if log_scale else None
            number = {"step": 1} if kind == "integer" else {"format": "%g"}
            low = c1.number_input("from", value=cast(entry["minValue"]), min_value=floor,
                                  key=f"tune_{recipe}_{name}_min", **number)
            high = c2.number_input("to", value=cast(entry["maxValue"]), min_value=floor,
                                   key=f"tune_{recipe}_{name}_max", **number)
            ranges[f"{kind}HyperParameterRanges"].append(
                {"name": name, "minValue": cast(low), "maxValue": cast(high), "scalingType": entry["scalingType"]})
    for entry in defaults["categoricalHyperParameterRanges"]:
        name = entry["name"]
        values = [str(v).lower() if isinstance(v, bool) else str(v) for v in entry["values"]]
        st.markdown(f"**{common.param_label(name)}** — {cls.param_info[name].help}")
        picked = st.multiselect("values to try", values, default=values, key=f"tune_{recipe}_{name}_values")
        ranges["categoricalHyperParameterRanges"].append({"name": name, "values": picked})
    start = st.form_submit_button("Start tuning", type="primary")

if start:
    hpo_config = {"hpoObjective": {"type": "Maximize", "metricName": objective},
                  "hpoResourceConfig": {"maxNumberOfTrainingJobs": str(max_trials)},
                  "algorithmHyperParameterRanges": ranges}
    try:
        version = workspace.start_tuning(store, group, recipe, hpo_config)
        st.toast(f"Tuning started: {version.solution}")
    except RecsysError as exc:
        st.error(f"Tuning was not started: {exc}")


def trials_frame(hpo: dict) -> pd.DataFrame:
    """The trials of a run for people: numbered from 1, parameters in words, the objective by its short name."""
    trials = pd.DataFrame(hpo.get("trials") or [])
    if trials.empty:
        return trials
    trials["trial"] = range(1, len(trials) + 1)  # records are in trial order; stored numbering may be 0-based
    params = [c for c in trials.columns if c.startswith("param.")]
    objective = display_name(hpo.get("objective") or "value")
    shown = ["trial", "phase", "status", "value", *params, "seconds", "error"]
    frame = trials[[c for c in shown if c in trials.columns]]
    return frame.rename(columns={"value": objective, **{p: common.param_label(p.removeprefix("param."))
                                                        for p in params}})


@st.fragment(run_every=3)
@common.guard("Tune: tuning runs")
def tuning_runs():
    hpo_solutions = {s.name: s for s in solutions.list_solutions(store, group) if s.perform_hpo}
    versions = [v for v in solutions.list_solution_versions(store, group) if v.solution in hpo_solutions]
    if not versions:
        common.empty_state("No tuning run yet.", "Choose ranges above and start tuning.")
        return
    for v in versions:
        with st.container(border=True):
            st.markdown(f"**{v.solution}** ({v.recipe}) — {v.status}")
            hpo = v.hpo or {}
            if v.status in RUNNING:
                progress = v.progress or {}
                text = hpo.get("text") or progress.get("stage") or "queued"
                left, right = st.columns([5, 1])
                left.progress(min(1.0, (progress.get("percent") or 0) / 100), text=text)
                if v.status != "CREATE STOPPING" and right.button("Cancel", key=f"tune_cancel_{v.name}"):
                    try:
                        runs.cancel_solution_version(store, v.arn)
                    except RecsysError as exc:
                        st.error(str(exc))
            elif v.status == "CREATE FAILED":
                st.error(f"Tuning failed: {v.failure_reason or 'no reason recorded'}")
            elif v.status == "CREATE STOPPED":
                st.info("Stopped before it finished" + (f" ({hpo['text']})." if hpo.get("text") else "."))
            trials = trials_frame(hpo)
            if trials.empty:
                continue
            objective = display_name(hpo.get("objective") or "value")
            tooltip = [c for c in trials.columns if c != "error"]
            st.altair_chart(alt.Chart(trials).mark_circle(size=80).encode(
                x=alt.X("trial:Q", title="Trial", axis=alt.Axis(tickMinStep=1)),
                y=alt.Y(f"{objective}:Q", title=objective),
                color=alt.Color("status:N", title="Status"), tooltip=tooltip,
            ).properties(title=f"Trials ({len(trials)} of {hpo.get('max_trials') or len(trials)})"), width="stretch")
            with st.expander("Trials table"):
                st.dataframe(common.readable(trials), hide_index=True, width="stretch")
                common.download_button(trials, "Download trials", f"{v.solution}-trials.csv",
                                       key=f"tune_dl_{v.name}")
            best = hpo.get("best_params") or {}
            if best and v.status == "ACTIVE":
                best_value = hpo.get("best_value")
                st.markdown(f"Best {objective} on validation: **{best_value:.4f}**" if best_value is not None
                            else "Best parameters:")
                searched = [c.removeprefix("param.") for c in (hpo.get("trials") or [{}])[0] if c.startswith("param.")]
                st.dataframe(pd.DataFrame([{"parameter": common.param_label(k), "value": common.param_value(best[k])}
                                           for k in searched or best if k in best]), hide_index=True)
                st.caption("Parameters not searched keep their values: " + ", ".join(
                    f"{common.param_label(k)} {common.param_value(best[k])}" for k in best if k not in searched) if searched else "")
                promoted_to = v.promoted_to
                if not promoted_to and st.button("Promote best: train a solution with these parameters",
                                                 key=f"tune_promote_{v.name}", type="primary"):
                    try:
                        promoted_to = workspace.promote_best(store, v.arn).solution
                    except RecsysError as exc:
                        st.error(str(exc))
                if promoted_to:
                    st.success(f"Promoted: solution **{promoted_to}** trains with these parameters "
                               "(see **Train** and **Compare**).")


st.subheader("Tuning runs")
tuning_runs()
