"""The workbench's questions that span several library modules, for the pages and the CLI: a group's status
and next step, the demo set-up, the stored data profile, what Preview can query, trying a filter expression,
recording an event as an app would, and batch input files.

Example::

    status = group_status(store, "demo")        # counts, a table of resources and status["next_step"]
    profile = group_profile(store, "demo")      # recomputed only when `queries.data_version` changes

Each function composes the library's own calls (`datasets`, `queries`, `solutions`, `runs`, `campaigns`,
`filters`, `events`, `profile`); the SQL is in `recsys.queries` and `recsys.datasets`.
"""

from __future__ import annotations

import csv
import json
import logging
import time

import pandas as pd

from recsys import (
    campaigns, datasets, demo, events, filters, ingest, profile, queries, runs, serving, solutions, tuning, uploads,
)
from recsys.columns import INTERACTIONS, ITEMS, USER_ID, USERS
from recsys.evaluation import EvaluationReport, comparisons
from recsys.evaluation.compare import DEFAULT_METRIC
from recsys.exceptions import ConflictError, NotFoundError, ValidationError
from recsys.files import atomic_write
from recsys.recipes import USER_SEGMENTATION
from recsys.store import ACTIVE, Store

log = logging.getLogger(__name__)

DEMO_GROUP = "demo"
# What `make run` trains on the demo so every page has something to show at once.
DEMO_SOLUTIONS = (
    ("popularity", "aws-popularity-count"),
    ("personalization", "aws-user-personalization"),
    ("similar", "aws-sims"),
)
DEMO_CAMPAIGN = "personalization"

RESOURCE_TYPES = ("solution", "solution-version", "campaign", "filter", "event-tracker",
                  "batch-inference-job", "batch-segment-job", "dataset-import-job")


def group_status(store: Store, group: str, counts: dict | None = None, distinct: dict | None = None) -> dict:
    """Counts of data and resources in a group, a table of its resources, and the next step to take.

    ``users`` / ``items`` are the distinct ids with interactions (`queries.distinct_ids`), ``users_rows`` /
    ``items_rows`` the rows of the Users / Items datasets. `counts` ({dataset type: rows}) and `distinct` skip
    counting again when the caller already has them (`row_counts`, `distinct_ids`).
    """
    counts = queries.row_counts(store, group) if counts is None else counts
    distinct = queries.distinct_ids(store, group) if distinct is None else distinct
    rows = []
    for resource_type in RESOURCE_TYPES:
        for r in store.list_resources(resource_type, group):
            rows.append({"type": resource_type, "name": r["name"], "status": r["status"], "arn": r["arn"],
                         "failure_reason": r.get("failure_reason") or ""})
    versions = [r for r in rows if r["type"] == "solution-version"]
    status = {
        "interactions": counts.get(INTERACTIONS, 0),
        "users": distinct["users"],
        "items": distinct["items"],
        "users_rows": counts.get(USERS, 0),
        "items_rows": counts.get(ITEMS, 0),
        "solutions": sum(r["type"] == "solution" for r in rows),
        "active_versions": sum(r["status"] == ACTIVE for r in versions),
        "training": sum(r["status"] in ("CREATE PENDING", "CREATE IN_PROGRESS") for r in versions),
        "campaigns": sum(r["type"] == "campaign" for r in rows),
        "filters": sum(r["type"] == "filter" for r in rows),
        "resources": rows,
    }
    status["next_step"] = next_step(status)
    return status


def next_step(status: dict) -> str:
    """The one thing to do next, in the order of the user's journey."""
    if status["interactions"] == 0:
        failed = [r for r in status["resources"] if r["type"] == "dataset-import-job" and r["failure_reason"]]
        if failed:  # resources are newest first
            return (f"The last import failed, nothing was imported: {failed[0]['failure_reason']} Import the file "
                    "again on the **Data** page.")
        return "Import interactions on the **Data** page (CSV, Parquet, JSON lines or Avro)."
    if status["solutions"] == 0:
        return "Train a first recipe on the **Train** page; start with aws-user-personalization and the popularity baseline."
    if status["active_versions"] == 0:
        if status["training"]:
            return "Training is running: watch it on the **Train** page."
        return "Train a solution version on the **Train** page."
    if status["active_versions"] == 1:
        return "Train a second recipe (e.g. aws-popularity-count as the baseline) and compare them on **Compare**."
    if status["campaigns"] == 0:
        return "Compare versions on **Compare**, then deploy the best one on **Campaigns & Events**."
    return "Explore recommendations on **Preview**, add business rules on **Filters**, or export on **Segments & Batch**."


def load_demo_workspace(store: Store, group: str = DEMO_GROUP, directory: str = "data/demo", *,
                        train: bool = True) -> dict:
    """Load the demo data into `group` and (optionally) train the demo solutions and deploy a campaign.

    Idempotent: existing solutions and campaigns are kept, the data is replaced.
    """
    result = demo.load_demo(store, group, directory)
    if not train:
        return result
    versions = {}
    for solution, recipe in DEMO_SOLUTIONS:
        try:
            solutions.create_solution(store, group, solution, recipe)
        except ConflictError:
            pass
        try:
            versions[solution] = solutions.latest_active_version(store, group, solution)
        except NotFoundError:
            versions[solution] = runs.create_solution_version(store, group, solution, wait=True)
        log.info("demo solution %s: %s", solution, versions[solution].status)
    try:
        campaigns.get_campaign(store, DEMO_CAMPAIGN, group=group)
    except NotFoundError:
        version = versions[DEMO_CAMPAIGN]
        if version.status == ACTIVE:
            campaigns.create_campaign(store, group, DEMO_CAMPAIGN, version.arn)
    result["versions"] = versions
    group_profile(store, group)  # stored now, so the first view of the Data page does not compute it
    return result


def evaluation_reports(store: Store, version_arns) -> dict:
    """The stored EvaluationReport of each version that has one, keyed by version ARN."""
    reports = {}
    for arn in version_arns:
        version = solutions.get_solution_version(store, arn)
        path = solutions.evaluation_path(store, version)
        if path.exists():
            reports[arn] = EvaluationReport.from_dict(json.loads(path.read_text(encoding="utf-8")))
    return reports


def train_recipe(store: Store, group: str, recipe: str, params: dict | None = None, **solution_options):
    """Queue a training of `recipe` with `params`; returns the new version.

    The solution is named after the recipe (`user-personalization`); a new version of it is trained when its
    settings are the same, else a solution `user-personalization-2` (-3...) with the new settings is made, so a
    solution's versions always share one configuration. `solution_options`: event_type, event_value_threshold...
    """
    threshold = solution_options.get("event_value_threshold")
    if threshold not in (None, ""):
        try:
            solution_options["event_value_threshold"] = float(threshold)
        except (TypeError, ValueError):
            raise ValidationError(f"The event value threshold {threshold!r} is not a number; give a number such as "
                                  "1 or 0.5, or leave it empty.") from None
    params = solutions.validate_params(recipe, params)
    existing = {s.name: s for s in solutions.list_solutions(store, group)}
    for name in _names(store, group, recipe.removeprefix("aws-").replace("_", "-"), len(existing)):
        if name not in existing:
            solutions.create_solution(store, group, name, recipe, params=params, **solution_options)
            break
        if _same_settings(existing[name], recipe, params, solution_options):
            break
    return runs.create_solution_version(store, group, name)


def _names(store: Store, group: str, base: str, taken: int):
    """`base`, `base-2`, `base-3`... as this group may name a solution (names are unique per workspace)."""
    for i in range(1, taken + 3):
        yield store.name_for(solutions.SOLUTION, group, base if i == 1 else f"{base}-{i}")


def _same_settings(solution, recipe: str, params: dict | None, options: dict) -> bool:
    if solution.recipe != recipe or solution.perform_hpo:
        return False
    if (solution.params or {}) != (params or {}):
        return False
    return all(_loose(getattr(solution, k, None)) == _loose(v) for k, v in options.items())


def _loose(value):
    """Stored settings come back from JSON: compare 3 and "3", None and ""."""
    return None if value in (None, "") else str(value)


def start_tuning(store: Store, group: str, recipe: str, hpo_config: dict, **solution_options):
    """Start a hyperparameter tuning run (a new `<recipe>-hpo-N` solution with performHPO) and return its version.

    The hpoConfig is checked first (`tuning.check_hpo_config`: the error a run would end with, before it starts),
    and the same settings are not started twice while a run with them is still going (a double submission).
    `solution_options` go to `solutions.create_solution` (event_type, event_value_threshold...).
    """
    tuning.check_hpo_config(recipe, hpo_config)
    wanted = json.dumps(hpo_config, sort_keys=True, default=str)
    existing = {s.name: s for s in solutions.list_solutions(store, group)}
    for v in solutions.list_solution_versions(store, group):
        sol = existing.get(v.solution)
        if (sol is not None and v.status in solutions.TRAINING_STATUSES and sol.perform_hpo and sol.recipe == recipe
                and json.dumps(sol.hpo_config, sort_keys=True, default=str) == wanted):
            raise ConflictError(f"A tuning run with these settings is already running ({v.solution}); "
                                "wait for it to finish or cancel it.")
    base = f"{recipe.removeprefix('aws-')}-hpo"
    candidates = (store.name_for(solutions.SOLUTION, group, f"{base}-{i}") for i in range(1, len(existing) + 2))
    name = next(n for n in candidates if n not in existing)
    solutions.create_solution(store, group, name, recipe, perform_hpo=True, hpo_config=hpo_config, **solution_options)
    return runs.create_solution_version(store, group, name)


def promote_best(store: Store, version_arn: str):
    """Train the best parameters of a finished tuning run as a plain solution (`<solution>-best`); its version.

    The tuning version records the promotion (`promoted_to`), so promoting twice returns the same solution's
    newest version instead of training it again.
    """
    version = solutions.get_solution_version(store, version_arn)
    best = (version.hpo or {}).get("best_params")
    if version.status != ACTIVE or not best:
        raise ConflictError(f"{version.solution}/{version.version_id} is {version.status} with no best parameters "
                            "to promote; promote a tuning run that finished (ACTIVE).")
    group = version.group
    if version.promoted_to:
        versions = solutions.list_solution_versions(store, group, version.promoted_to)  # newest first
        if versions:
            return versions[0]
    source = solutions.get_solution(store, group, version.solution)
    existing = {s.name for s in solutions.list_solutions(store, group)}
    name = next(n for n in _names(store, group, f"{version.solution}-best", len(existing)) if n not in existing)
    options = {k: getattr(source, k) for k in ("event_type", "event_value_threshold", "events_config")
               if getattr(source, k)}
    solutions.create_solution(store, group, name, source.recipe, params=best, **options)
    store.update_resource(solutions.SOLUTION_VERSION, group, version.name, body={"promoted_to": name})
    return runs.create_solution_version(store, group, name)


def compare_versions(store: Store, version_arns, metric: str = DEFAULT_METRIC) -> list:
    """`recsys.evaluation.comparisons` of versions by their stored evaluations, named by `version_label`.

    Versions trained without an evaluation are left out.
    """
    reports = evaluation_reports(store, version_arns)
    labels = short_labels(store, list(reports))
    return comparisons({labels[arn]: report for arn, report in reports.items()}, metric)


def short_labels(store: Store, version_arns) -> dict[str, str]:
    """The shortest names that tell versions apart: the solution's name when it has one version among them, else
    `solution/version`; the recipe's id when the solution is named after it (`aws-popularity-count`); the recipe
    follows in brackets when the name does not already say it."""
    versions = {arn: solutions.get_solution_version(store, arn) for arn in version_arns}
    per_solution: dict[str, int] = {}
    for v in versions.values():
        per_solution[v.solution] = per_solution.get(v.solution, 0) + 1
    labels = {}
    for arn, v in versions.items():
        name = v.solution if per_solution[v.solution] == 1 else f"{v.solution}/{v.version_id}"
        recipe = v.recipe
        if name == recipe.removeprefix("aws-"):
            labels[arn] = recipe
        else:
            labels[arn] = name if recipe.removeprefix("aws-") in name.split("/")[0] else f"{name} ({recipe})"
    return labels


def version_label(store: Store, version_arn: str) -> str:
    """A short human label of a version: `solution/version (recipe)`."""
    version = solutions.get_solution_version(store, version_arn)
    return f"{version.solution}/{version.version_id} ({version.recipe})"


def items_frame(store: Store, group: str):
    """The group's Items table, or None when it has none."""
    try:
        return datasets.read_items(store, group)
    except NotFoundError:
        return None


def segment_options(store: Store, group: str, report) -> list[str]:
    """What a comparison can be broken down by: history length, user attributes, item categories."""
    options = ["history_bucket"]
    options += [c for c in report.per_user.columns if c.isupper() and c not in ("USER_ID", "ITEM_ID")]
    try:
        schema = datasets.get_dataset(store, group, ITEMS)["schema"]
        options += [name for name in schema.categorical_fields if name != "ITEM_ID"]
    except NotFoundError:
        pass
    return list(dict.fromkeys(options))


def preview_targets(store: Store, group: str) -> list[dict]:
    """What the Preview page can query: deployed campaigns first, then every ACTIVE solution version
    (personalized recipes before the popularity baselines).

    Each entry: {label, arn, recipe, recipe_type}. Versions are served directly, with no campaign to deploy.
    """
    targets = []
    for c in campaigns.list_campaigns(store, group):
        if c.status != ACTIVE:
            continue
        try:
            version = solutions.get_solution_version(store, serving.resolve_campaign(store, c.arn)[1])
        except (NotFoundError, ConflictError):
            continue
        targets.append({"label": f"campaign {c.name} ({version.recipe})", "arn": c.arn,
                        "recipe": version.recipe, "recipe_type": version.recipe_type})
    # Personalized recipes before baselines, so the page opens on the model worth looking at.
    baselines = ("aws-popularity-count", "aws-trending-now")
    versions = sorted(solutions.list_solution_versions(store, group), key=lambda v: v.recipe in baselines)
    for v in versions:
        # Segmentation versions answer batch segment jobs only (Segments & Batch), never a real-time request.
        if v.status == ACTIVE and v.recipe_type != USER_SEGMENTATION:
            targets.append({"label": f"version {v.solution}/{v.version_id} ({v.recipe})", "arn": v.arn,
                            "recipe": v.recipe, "recipe_type": v.recipe_type})
    return targets


def history_with_metadata(store: Store, group: str, user_id: str, limit: int = 50, *, items=None):
    """A user's newest events (newest first) joined with the items' metadata.

    Reads only the user's newest `limit` events (by the user index) and the Items rows they name; pass
    `items` (the Items frame, e.g. a cached one) to join with it instead.
    """
    history = datasets.user_history(store, group, user_id, limit=limit)
    history = history.iloc[::-1]
    if len(history):
        if items is None:
            items = items_by_id(store, group, history["ITEM_ID"].unique())
        if items is not None:
            history = history.merge(items, on="ITEM_ID", how="left")
    return history.reset_index(drop=True)


def items_by_id(store: Store, group: str, item_ids):
    """The Items rows of some item ids (sorted by ITEM_ID, typed as `read_items`), or None without an Items dataset."""
    try:
        return datasets.read_items(store, group, ids=item_ids)
    except NotFoundError:
        return None


def profile_chart_frames(prof: dict) -> dict:
    """Tidy frames for the Data page's charts, from a `recsys.profile` result."""
    inter = prof.get("interactions", {})
    per_day = pd.DataFrame(inter.get("per_day") or [], columns=["date", "count"]).rename(
        columns={"date": "day", "count": "interactions"})
    per_user = (inter.get("per_user") or {})
    curve = (inter.get("long_tail") or {}).get("curve") or []
    long_tail = pd.DataFrame(curve, columns=["item_share", "interaction_share"]).rename(
        columns={"item_share": "item_rank_share"})
    hist = per_user.get("histogram") or []
    per_user_frame = pd.DataFrame({"bin": [f"{b['low']}-{b['high'] - 1}" for b in hist],
                                   "users": [b["count"] for b in hist]})
    event_types = pd.DataFrame(list((inter.get("event_types") or {}).items()), columns=["event_type", "count"])
    categories = pd.DataFrame(columns=["category", "count"])
    category_field = ""
    mix = (prof.get("items") or {}).get("category_mix") or {}
    if mix:
        category_field = next(iter(mix))
        categories = pd.DataFrame(list(mix[category_field]["interactions"].items()), columns=["category", "count"])
    return {"per_day": per_day, "long_tail": long_tail, "per_user": per_user_frame, "event_types": event_types,
            "categories": categories, "category_field": category_field}


def item_fields(store: Store, group: str) -> list[str]:
    """The metadata fields of the group's Items dataset (for metadataColumns)."""
    try:
        schema = datasets.get_dataset(store, group, ITEMS)["schema"]
    except NotFoundError:
        return []
    return [f.name for f in schema.fields if f.name != "ITEM_ID"]


def record_event(store: Store, group: str, user_id: str, item_id: str, event_type: str,
                 context: dict | None = None) -> None:
    """Record one event for a user (or anonymous session) through the group's event tracker, as an app would."""
    tracker = ensure_event_tracker(store, group)
    properties = {events.field_to_camel(k): v for k, v in (context or {}).items()}
    event = {"eventType": event_type, "itemId": item_id, "sentAt": time.time()}
    if properties:
        event["properties"] = json.dumps(properties)
    events.put_events(store, tracker["trackingId"], session_id=user_id, user_id=user_id, event_list=[event])


def ensure_event_tracker(store: Store, group: str) -> dict:
    """The group's event tracker (Personalize allows one per group), created on first use."""
    trackers = store.list_resources("event-tracker", group)
    if trackers:
        return trackers[0]
    return events.create_event_tracker(store, group, f"{group}-tracker")


def save_schema(store: Store, group: str, dataset_type: str, schema) -> dict:
    """Create a dataset with `schema`, or replace the schema of one that holds no rows yet (`ingest.save_schema`)."""
    return ingest.save_schema(store, group, dataset_type, schema)


def group_profile(store: Store, group: str, version: tuple | None = None, *, max_age: float = 0.0) -> dict:
    """The data profile of a group (`recsys.profile.profile_group`), kept as JSON in the workspace.

    The stored profile is reused while the group's `data_version` is unchanged, so a restarted workbench does
    not re-read a large interactions table to show the same profile again. With `max_age` > 0, a profile
    computed less than `max_age` seconds ago is also reused when the only change is newer interactions
    (streamed events): it then carries `newer_events` (interactions not counted in it) and `computed_at`.
    Imports, deletions and item/user changes always recompute it.
    """
    version = queries.data_version(store, group) if version is None else version
    key = json.dumps(list(version), default=str)
    base = json.dumps(queries.version_without_newest_event(version), default=str)
    path = store.artifact_path("profiles", f"{group}.json")
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        stored = {}
    if isinstance(stored, dict) and stored.get("version") == key and "profile" in stored:
        return stored["profile"]
    if (isinstance(stored, dict) and max_age > 0 and stored.get("base") == base and "profile" in stored
            and time.time() - float(stored.get("computed_at") or 0) < max_age):
        newer = queries.interactions_after(store, group, int(stored.get("max_seq") or 0))
        return {**stored["profile"], "newer_events": newer, "computed_at": stored["computed_at"]}
    computed_at = time.time()
    result = profile.profile_group(store, group)
    atomic_write(path, json.dumps({"version": key, "base": base, "max_seq": queries.newest_event(version),
                                   "computed_at": computed_at, "profile": result}))
    return result


_UNSET = object()


def try_filter(store: Store, group: str, expression: str, *, user_id: str | None = None,
               item_id: str | None = None, filter_values: dict | None = None, items=_UNSET, users=_UNSET,
               catalogue=None):
    """Apply a filter expression to the group's catalogue for one user: (compiled filter, frame of items with `passes`).

    `items`, `users` (frames or None) and `catalogue` (`queries.catalogue_ids`) may be passed in when the caller keeps
    them (the workbench caches them per data version); otherwise they are read here.
    """
    compiled = filters.parse_filter(expression)
    if items is _UNSET:
        items = items_frame(store, group)
    ids = queries.catalogue_ids(store, group) if catalogue is None else catalogue
    if users is _UNSET:
        try:
            users = datasets.read_users(store, group)
        except NotFoundError:
            users = None
    history = datasets.user_history(store, group, user_id) if user_id else None
    ctx = filters.FilterContext(ids, items=items, user_interactions=history, users=users, user_id=user_id,
                                current_item_id=item_id)
    mask = compiled.item_mask(ctx, filter_values or None)
    frame = pd.DataFrame({"ITEM_ID": ids, "passes": mask})
    if items is not None:
        frame = frame.merge(items, on="ITEM_ID", how="left")
    return compiled, frame


def user_ids_from_csv(text: str) -> list[str]:
    """The user ids of a pasted or uploaded CSV, in order, each once: the column named like a user id (USER_ID,
    CustomerID, user...) when the first row is a header, else the first column. ValidationError when it has none."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValidationError("The user list is empty: paste or upload user ids, one per line (a header such as "
                              "USER_ID is optional).")
    try:
        dialect = csv.Sniffer().sniff(lines[0], delimiters=",;\t|")
    except csv.Error:  # one column: no delimiter to find
        dialect = csv.excel
    rows = list(csv.reader(lines, dialect))
    column = next((k for k, name in enumerate(rows[0]) if uploads.guess_field(name.strip(), ["USER_ID"])), None)
    values = [row[column] for row in rows[1:] if len(row) > column] if column is not None else [row[0] for row in rows if row]
    ids = [v for v in dict.fromkeys(str(v).strip() for v in values) if v]
    if not ids:
        raise ValidationError("The user list has a header but no user id below it; put one id per line.")
    return ids


def all_user_ids(store: Store, group: str) -> list[str]:
    """Every user of a group: those with interactions (most active first), then Users rows without any."""
    ids = queries.active_users(store, group)
    try:
        known = set(ids)
        ids += [u for u in datasets.read_users(store, group, columns=[USER_ID])[USER_ID].astype(str) if u not in known]
    except NotFoundError:
        pass
    return ids


def write_batch_input(store: Store, group: str, kind: str, *, user_ids=None, item_ids=None,
                      attributes=None, path=None):
    """A JSON-lines batch input file (Personalize's format) for users, items or attribute expressions."""
    path = path or store.artifact_path("batch", group, f"input-{kind}-{int(time.time() * 1000)}.jsonl")
    if kind == "users":
        lines = [{"userId": str(u)} for u in user_ids]
    elif kind == "items":
        lines = [{"itemId": str(i)} for i in item_ids]
    else:
        lines = [{"itemAttributes": str(a)} for a in attributes]
    atomic_write(path, "".join(json.dumps(line) + "\n" for line in lines))
    return path


