"""Batch inference and batch segment jobs: JSON lines in and out as Personalize writes them, plus marketing CSVs.

Example::

    create_batch_inference_job(store, "shop", "nightly", version_arn, "users.jsonl", "recs.jsonl",
                               num_results=10, csv_path="recs.csv", item_columns=["CATEGORY_L1"])
    create_batch_segment_job(store, "shop", "launch", segment_version_arn, "items.jsonl", "segments.jsonl",
                             csv_path="segments.csv", user_columns=["MEMBERSHIP"])

Input is read in chunks (`chunk_size` lines), so memory stays bounded whatever the file size. Every inference
line goes through the real-time pipeline (`recsys.serving.pipeline`), a chunk scored with one recipe call: a
line's answer is the one GetRecommendations (or GetPersonalizedRanking) gives on the solution version with the
job's config and the line's recommendationId (`line_recommendation_id`), without the reasons. A bad input line
gets an ``"error"`` on its own output line and the job carries on.

Output belongs to the job, not to the output path: it is written under the workspace
(``artifacts/batch/<kind>/<group>/<job name>/``, flushed after every chunk) and moved to `output_path` (and the
CSV to `csv_path`) when complete. Running the same job name again with ``resume=True`` continues after the last
complete line, and only when the input file (path, size, modification time, a hash of its first MiB), the
solution version and the parameters are those of the interrupted run; anything else is refused with what
differs. Two jobs writing the same output path never mix their lines.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from recsys import columns as C
from recsys import datasets, display
from recsys.exceptions import NotFoundError, RecsysError, ValidationError
from recsys.files import atomic_path
from recsys.filters import parse_filter
from recsys.recipes import PERSONALIZED_RANKING, RELATED_ITEMS, USER_SEGMENTATION
from recsys.resources import BatchJob, Campaign
from recsys.serving.pipeline import RANKABLE, RECOMMENDABLE, Pipeline, Query, compiled_filter
from recsys.serving.batch_job import PUBLISHING, WORK_CSV, WORK_OUTPUT, BatchRun, work_dir
from recsys.serving.reader import READER
from recsys.serving.request import MAX_RESULTS, check_campaign_config, check_id, check_input_list
from recsys.serving.runtime import RUNTIME, LoadedModel, resolve_campaign
from recsys.store import (
    ACTIVE, CREATE_FAILED, Store,
)

logger = logging.getLogger(__name__)

BATCH_INFERENCE_JOB = "batch-inference-job"
BATCH_SEGMENT_JOB = "batch-segment-job"
DEFAULT_CHUNK_SIZE = 1000
MAX_SCORE_CELLS = 50_000_000  # cap on chunk lines x catalogue items scored at once (float64: 400 MB)
# A job explores only when its batchInferenceJobConfig asks: by default each line gets the best-scoring items.
DEFAULT_JOB_CONFIG = {"itemExplorationConfig": {"explorationWeight": "0", "explorationItemAgeCutOff": "30"}}


class LineError(ValidationError):
    """A problem with one input line; reported on that line's output and the job continues."""


def _parse_line(line: str) -> tuple[Any, dict | None, str | None]:
    """(input to echo, parsed dict or None, error or None)."""
    try:
        record = json.loads(line)
    except ValueError as exc:
        return line, None, f"Invalid JSON ({exc.msg} at column {exc.colno}); each line must be one JSON object."
    if not isinstance(record, dict):
        return record, None, "Each line must be a JSON object such as {\"userId\": \"42\"}."
    return record, record, None


def _id_field(record: dict, key: str) -> str:
    value = record.get(key)
    if value is None or value == "" or isinstance(value, (dict, list, bool)):
        raise LineError(f"Missing or invalid \"{key}\"; each line needs e.g. {{\"{key}\": \"42\"}}.")
    return str(value)


def _filter_values(record: dict) -> dict[str, str] | None:
    values = record.get("filterValues")
    if values is None:
        return None
    if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
        raise LineError('"filterValues" must map each parameter to a string, e.g. {"GENRES": "\\"comedy\\""}.')
    return values


def _number(x: float) -> float:
    return float(f"{float(x):.6g}")


def _write_csv(path: Path, header: list[str], rows: Iterator[list]) -> int:
    """Write a CSV atomically; returns the number of data rows."""
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            n += 1
    return n


def _output_records(path: Path) -> Iterator[dict]:
    with open(path, "r", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _metadata_lookup(frame: pd.DataFrame | None, id_column: str, wanted: list[str], what: str) -> dict[str, list]:
    """{id: [values of `wanted` columns]} for the CSV; ValidationError names unknown columns."""
    if not wanted:
        return {}
    if frame is None or frame.empty:
        raise ValidationError(f"Columns {', '.join(wanted)} were asked for, but the group has no {what} data.")
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        known = ", ".join(c for c in frame.columns if c != id_column)
        raise ValidationError(f"Unknown {what} column(s) {', '.join(missing)}; available: {known}.")
    sub = frame[[id_column, *wanted]].drop_duplicates(id_column)
    values = sub[wanted].astype(object).where(sub[wanted].notna(), "")
    return dict(zip(sub[id_column].astype(str), values.values.tolist()))


def _read_optional_frame(read: Callable, store: Store, group: str, **options) -> pd.DataFrame | None:
    try:
        return read(store, group, **options)
    except NotFoundError:
        return None


def _quote_value(value: str) -> str:
    """One filterValues entry: a double-quoted string with its quotes and backslashes escaped."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _read_table(store: Store, group: str, dataset_type: str) -> pd.DataFrame | None:
    reader = datasets.read_items if dataset_type == C.ITEMS else datasets.read_users
    try:
        return reader(store, group)
    except NotFoundError:
        return None


# -- batch inference ---------------------------------------------------------------------------------------


def line_recommendation_id(job_arn: str, line: int) -> str:
    """The recommendationId a batch job answers its `line`-th input line (0-based, blank lines not counted)
    with: fixed, so a resumed job repeats the exploration draws and a real-time request can reproduce a line."""
    return f"RID-{uuid.uuid5(uuid.NAMESPACE_URL, f'{job_arn}#{line}')}"


class _InferenceLines:
    """Turns a chunk of input lines into output records by answering them through the serving pipeline."""

    def __init__(self, pipeline: Pipeline, num_results: int, filter_arn: str | None, job_arn: str):
        self.pipeline, self.n, self.filter_arn, self.job_arn = pipeline, num_results, filter_arn, job_arn
        self.recipe_type = pipeline.model.recipe_type
        self.with_scores = pipeline.model.recipe.returns_scores

    def __call__(self, lines: list[str], first: int) -> list[dict]:
        out: list[dict | None] = [None] * len(lines)
        queries, slots = [], []
        for k, line in enumerate(lines):
            echo, record, error = _parse_line(line)
            if error:
                out[k] = {"input": echo, "output": None, "error": error}
                continue
            try:
                queries.append(self._query(record, line_recommendation_id(self.job_arn, first + k)))
                slots.append((k, echo))
            except RecsysError as exc:
                out[k] = {"input": echo, "output": None, "error": str(exc)}
        with READER.snapshot(self.pipeline.store):
            answers = self.pipeline.answer(queries)
        for (k, echo), answer in zip(slots, answers):
            out[k] = ({"input": echo, "output": None, "error": str(answer)} if isinstance(answer, Exception)
                      else self._record(echo, answer))
        return out  # type: ignore[return-value]

    def _query(self, record: dict, recommendation_id: str) -> Query:
        common: dict[str, Any] = {"num_results": self.n, "filter_arn": self.filter_arn, "explain": False,
                                  "filter_values": _filter_values(record), "recommendation_id": recommendation_id}
        if self.recipe_type == RELATED_ITEMS:
            return Query(item_id=check_id(_id_field(record, "itemId"), "itemId"), **common)
        user_id = check_id(_id_field(record, "userId"), "userId")
        if self.recipe_type != PERSONALIZED_RANKING:
            return Query(user_id=user_id, **common)
        item_list = record.get("itemList")
        if not isinstance(item_list, list) or not item_list:
            raise LineError('PERSONALIZED_RANKING lines need "itemList": a non-empty list of item ids.')
        return Query(user_id=user_id, input_list=check_input_list([str(i) for i in item_list], False), **common)

    def _record(self, echo: dict, items: list[dict]) -> dict:
        output: dict[str, Any] = {"recommendedItems": [item["itemId"] for item in items]}
        if not self.with_scores:
            return {"input": echo, "output": output}
        # back-filled "Popular item" entries have no score in real time either
        output["scores"] = [item.get("score") for item in items]
        return {"input": echo, "output": output, "error": None}


def _served_version(store: Store, group: str, solution_version_arn: str) -> tuple[Campaign, LoadedModel]:
    """(the version as a campaign, its loaded model), as real time serves a version ARN."""
    campaign, version_arn = resolve_campaign(store, solution_version_arn)
    if campaign.group != group:
        raise ValidationError(f"{solution_version_arn} belongs to dataset group {campaign.group!r}, not {group!r}.")
    return campaign, RUNTIME.model(store, version_arn)


def create_batch_inference_job(
    store: Store,
    group: str,
    job_name: str,
    solution_version_arn: str,
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    *,
    num_results: int = 25,
    filter_arn: str | None = None,
    csv_path: str | os.PathLike | None = None,
    item_columns: list[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    resume: bool = True,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    exclude_seen: bool = False,
    job_config: dict | None = None,
    with_names: bool = False,
) -> BatchJob:
    """Run a batch inference job (Personalize `CreateBatchInferenceJob`) synchronously; returns the job.

    Input lines by recipe type: ``{"userId": "42"}`` (user personalization, popularity),
    ``{"userId": "42", "itemList": ["1", "2"]}`` (personalized ranking), ``{"itemId": "7"}`` (related items);
    any line may add ``"filterValues": {"PARAM": "\\"a\\",\\"b\\""}`` for a filter with parameters.

    Parameters
    ----------
    csv_path, item_columns : also write ``USER_ID,RANK,ITEM_ID,SCORE,<item columns>`` (``ITEM_ID`` first column
        becomes ``SOURCE_ITEM_ID`` for related items) for marketing tools.
    with_names : add ``ITEM_NAME`` (the group's display column, `recsys.display`) after ``ITEM_ID`` in the CSV.
    progress : ``progress(lines_done, lines_total)`` after every chunk.
    resume : continue an interrupted job of the same name after its last complete line (same input file,
        version and parameters, else ConflictError says what differs).
    exclude_seen : drop items the user interacted with (the campaign config key ``excludeSeenItems``, an
        extension; Personalize keeps them; a filter on Interactions is the Personalize way).
    job_config : Personalize's batchInferenceJobConfig, e.g. ``{"itemExplorationConfig": {"explorationWeight":
        "0.3", "explorationItemAgeCutOff": "30"}}`` as for a campaign (default `DEFAULT_JOB_CONFIG`: no
        exploration, so every line gets its best-scoring items).
    """
    if not 1 <= int(num_results) <= MAX_RESULTS:
        raise ValidationError(f"num_results must be between 1 and {MAX_RESULTS}, got {num_results}.")
    input_path, output_path = Path(input_path), Path(output_path)
    if not input_path.is_file():
        raise NotFoundError(f"Batch input file {input_path} does not exist.")
    config = check_campaign_config(job_config if job_config is not None else DEFAULT_JOB_CONFIG)
    campaign, model = _served_version(store, group, solution_version_arn)
    recipe_type = model.recipe_type
    if recipe_type not in (*RECOMMENDABLE, *RANKABLE):
        hint = " use a batch segment job" if recipe_type == USER_SEGMENTATION else ""
        raise ValidationError(f"Batch inference does not support {recipe_type} recipes "
                              f"({model.version.recipe});{hint}.")
    item_lookup = _metadata_lookup(_read_table(store, group, C.ITEMS), C.ITEM_ID, list(item_columns or []), "Items") \
        if item_columns else {}
    if filter_arn:
        compiled_filter(store, group, filter_arn, RUNTIME)  # an unknown filter fails the job, not every line
    body = {
        "solution_version_arn": solution_version_arn, "input_path": str(input_path), "output_path": str(output_path),
        "csv_path": str(csv_path) if csv_path else None, "item_columns": list(item_columns or []),
        "num_results": int(num_results), "filter_arn": filter_arn, "recipe_type": recipe_type,
        "exclude_seen": bool(exclude_seen), "job_config": config,
    }
    if exclude_seen:
        config = {**config, "excludeSeenItems": "true"}
    job = BatchRun(store, BATCH_INFERENCE_JOB, group, job_name, body, resume, input_path)
    try:
        pipeline = Pipeline(store, dataclasses.replace(campaign, campaign_config=config), model)
        size = max(1, min(chunk_size, MAX_SCORE_CELLS // max(1, len(model.item_ids))))
        lines = _InferenceLines(pipeline, int(num_results), filter_arn, store.arn(BATCH_INFERENCE_JOB, group, job_name))
        stats = job.stream(input_path, lines, size, progress)
        if csv_path:
            names = display.item_names(store, group) if with_names else None
            stats["csv_rows"] = _inference_csv(job.work / WORK_CSV, job.output, recipe_type,
                                               list(item_columns or []), item_lookup, names)
        return job.publish(output_path, Path(csv_path) if csv_path else None, stats)
    except BaseException as exc:
        job.fail(exc)
        raise


def _inference_csv(path: Path, output: Path, recipe_type: str, item_columns: list[str], lookup: dict,
                   names: dict | None = None) -> int:
    key, first = ("itemId", "SOURCE_ITEM_ID") if recipe_type == RELATED_ITEMS else ("userId", C.USER_ID)
    blank = [""] * len(item_columns)

    def rows():
        for record in _output_records(output):
            if record.get("error") or not record.get("output"):
                continue
            query = record["input"].get(key)
            items = record["output"]["recommendedItems"]
            scores = record["output"].get("scores") or [""] * len(items)
            for rank, (item, score) in enumerate(zip(items, scores), start=1):
                named = [] if names is None else [names.get(item, "")]
                yield [query, rank, item, *named, score, *lookup.get(item, blank)]

    header = [first, "RANK", C.ITEM_ID, *([display.NAME_COLUMN] if names is not None else []), "SCORE"]
    return _write_csv(path, [*header, *item_columns], rows())


# -- batch segments ----------------------------------------------------------------------------------------

# Personalize's way to leave out users who already interacted with a segment's item: a UserID filter on the job.
# Its $SEGMENT_ITEMS is filled per line with the segment's items (the item, or the items matching the attributes).
EXCLUDE_INTERACTED = "EXCLUDE UserID WHERE Interactions.ITEM_ID IN ($SEGMENT_ITEMS)"
SEGMENT_ITEMS = "SEGMENT_ITEMS"


class _SegmentUsers:
    """The users a segment job may return: those its UserID filter allows (with each line's filterValues) and,
    with `exclude_interacted`, those who never interacted with the segment's items."""

    def __init__(self, store: Store, group: str, user_ids: np.ndarray, filter_arn: str | None,
                 exclude_interacted: bool):
        self.user_ids = user_ids
        self.filters = []
        if filter_arn:
            self.filters.append(compiled_filter(store, group, filter_arn, RUNTIME, target="UserID"))
        if exclude_interacted:
            self.filters.append(parse_filter(EXCLUDE_INTERACTED))
        wanted = {field.upper() for f in self.filters for dataset, field in f.fields if dataset == C.INTERACTIONS}
        self.interactions = None
        if wanted:
            columns = [C.USER_ID, *sorted(wanted - {C.USER_ID})]
            self.interactions = _read_optional_frame(datasets.read_interactions, store, group, columns=columns)
        needs_users = any(dataset == C.USERS for f in self.filters for dataset, _ in f.fields)
        self.users = _read_table(store, group, C.USERS) if needs_users else None

    def __bool__(self) -> bool:
        return bool(self.filters)

    def mask(self, record: dict, segment_items: list[str]) -> np.ndarray:
        values = dict(_filter_values(record) or {})
        values[SEGMENT_ITEMS] = ",".join(_quote_value(i) for i in segment_items)
        mask = np.ones(len(self.user_ids), dtype=bool)
        for compiled in self.filters:
            mask &= compiled.user_mask(self.user_ids, self.users, values, interactions=self.interactions)
        return mask


class _SegmentProcessor:
    """Turns a chunk of segment queries into output records (the recipe does the attribute matching)."""

    def __init__(self, model: LoadedModel, num_results: int, allowed: _SegmentUsers | None = None,
                 with_scores: bool = False):
        self.recipe, self.n, self.with_scores = model.recipe, num_results, with_scores
        self.known = set(model.item_ids.tolist())
        self.allowed = allowed if allowed else None

    def __call__(self, lines: list[str], first: int) -> list[dict]:
        out = []
        for line in lines:
            echo, record, error = _parse_line(line)
            if error:
                out.append({"input": echo, "output": None, "error": error})
                continue
            try:
                users, scores = self._users(record)
                output = {"recommendedUsers": users, **({"scores": scores} if self.with_scores else {})}
                out.append({"input": echo, "output": output})
            except (RecsysError, KeyError, ValueError) as exc:
                out.append({"input": echo, "output": None, "error": str(exc)})
        return out

    def _users(self, record: dict) -> tuple[list[str], list[float]]:
        if "itemAttributes" in record:
            query = record["itemAttributes"]
            if not isinstance(query, str) or not query.strip():
                raise LineError('"itemAttributes" must be a string like "ITEMS.GENRES = \\"Comedy\\"".')
            if not self.recipe.segments_by_attributes:
                raise LineError(f"{self.recipe.name} segments users by item (itemId); itemAttributes queries need "
                                "an aws-item-attribute-affinity solution.")
            ask = lambda n: self.recipe.users_for_attributes([query], n)[0]  # noqa: E731
            segment_items = (lambda: self.recipe.item_ids_[self.recipe.items_matching(query)].tolist())
        else:
            item = _id_field(record, "itemId")
            if item not in self.known:
                raise LineError(f"Item {item!r} was not in the training data; segments need items seen at training.")
            ask = lambda n: self.recipe.users_for_items([item], n)[0]  # noqa: E731
            segment_items = (lambda: [item])
        if self.allowed is None:
            segment = ask(self.n)
            return [str(u) for u in segment.user_ids.tolist()], [_number(x) for x in segment.scores.tolist()]
        allowed = self.allowed.mask(record, segment_items())
        # Ask for as many more users as the filter leaves out, so the segment still holds n allowed users.
        segment = ask(self.n + int((~allowed).sum()))
        keep = allowed[self.recipe.user_positions(segment.user_ids)]
        users, scores = segment.user_ids[keep][: self.n], segment.scores[keep][: self.n]
        return [str(u) for u in users.tolist()], [_number(x) for x in scores.tolist()]


def create_batch_segment_job(
    store: Store,
    group: str,
    job_name: str,
    solution_version_arn: str,
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    *,
    num_results: int = 25,
    csv_path: str | os.PathLike | None = None,
    user_columns: list[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    resume: bool = True,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    filter_arn: str | None = None,
    exclude_interacted: bool = False,
    with_names: bool = False,
    with_scores: bool = False,
) -> BatchJob:
    """Run a batch segment job (Personalize `CreateBatchSegmentJob`) for a USER_SEGMENTATION solution version.

    Input lines: ``{"itemId": "105"}`` or ``{"itemAttributes": "ITEMS.GENRES = \\"Comedy\\""}`` (optionally with
    ``"filterValues"``); output lines ``{"input": ..., "output": {"recommendedUsers": [...]}}`` with `num_results`
    users per segment, most likely first.

    Parameters
    ----------
    csv_path, user_columns : also write ``SEGMENT,RANK,USER_ID,<user columns>`` (all user columns by default).
    filter_arn : a UserID filter of the group (as Personalize's segment jobs take), e.g.
        ``EXCLUDE UserID WHERE Users.COUNTRY IN ($COUNTRY)``; its parameters come from each line's filterValues.
    exclude_interacted : leave out the users who already interacted with the segment's item (or with an item
        matching its attributes): the UserID filter `EXCLUDE_INTERACTED`, each segment still gets `num_results`
        users when there are enough.
    with_names, with_scores : add ``ITEM_NAME`` (the segment item's name, `recsys.display`) after ``SEGMENT``
        and ``SCORE`` (the user's affinity) after ``USER_ID`` to the CSV; the scores also go in the output lines
        (``"scores"``, an extension).
    """
    if not 1 <= int(num_results) <= 5_000_000:
        raise ValidationError(f"num_results must be between 1 and 5,000,000 users per segment, got {num_results}.")
    input_path, output_path = Path(input_path), Path(output_path)
    if not input_path.is_file():
        raise NotFoundError(f"Batch segment input file {input_path} does not exist.")
    model = RUNTIME.model(store, solution_version_arn)
    version, recipe_type = model.version, model.recipe_type
    if recipe_type != USER_SEGMENTATION:
        raise ValidationError(
            f"Batch segment jobs need a USER_SEGMENTATION recipe (aws-item-affinity, aws-item-attribute-affinity); "
            f"{version.recipe} is {recipe_type}. Use a batch inference job instead."
        )
    allowed = _SegmentUsers(store, group, np.asarray(model.recipe.user_ids_, dtype=object), filter_arn,
                            exclude_interacted)
    users_lookup, columns = {}, []
    if csv_path:
        users = _read_table(store, group, C.USERS)
        columns = list(user_columns) if user_columns is not None else (
            [c for c in users.columns if c != C.USER_ID and not c.startswith("_")] if users is not None else [])
        users_lookup = _metadata_lookup(users, C.USER_ID, columns, "Users") if columns else {}
    body = {
        "solution_version_arn": solution_version_arn, "input_path": str(input_path), "output_path": str(output_path),
        "csv_path": str(csv_path) if csv_path else None, "num_results": int(num_results),
        "filter_arn": filter_arn, "exclude_interacted": bool(exclude_interacted),
    }
    job = BatchRun(store, BATCH_SEGMENT_JOB, group, job_name, body, resume, input_path)
    try:
        stats = job.stream(input_path, _SegmentProcessor(model, int(num_results), allowed, with_scores),
                           chunk_size, progress)
        if csv_path:
            names = display.item_names(store, group) if with_names else None
            stats["csv_rows"] = _segment_csv(job.work / WORK_CSV, job.output, columns, users_lookup, names,
                                             with_scores)
        return job.publish(output_path, Path(csv_path) if csv_path else None, stats)
    except BaseException as exc:
        job.fail(exc)
        raise


def _segment_csv(path: Path, output: Path, columns: list[str], lookup: dict, names: dict | None = None,
                 with_scores: bool = False) -> int:
    blank = [""] * len(columns)

    def rows():
        for record in _output_records(output):
            if record.get("error") or not record.get("output"):
                continue
            query = record["input"]
            segment = query.get("itemId") if "itemId" in query else query.get("itemAttributes")
            named = [] if names is None else [names.get(str(query.get("itemId")), "") if "itemId" in query else ""]
            users = record["output"]["recommendedUsers"]
            scores = record["output"].get("scores") or [""] * len(users)
            for rank, (user, score) in enumerate(zip(users, scores), start=1):
                yield [segment, *named, rank, user, *([score] if with_scores else []), *lookup.get(user, blank)]

    header = ["SEGMENT", *([display.NAME_COLUMN] if names is not None else []), "RANK", C.USER_ID,
              *(["SCORE"] if with_scores else [])]
    return _write_csv(path, [*header, *columns], rows())


def list_batch_jobs(store: Store, group: str | None = None, kind: str = BATCH_INFERENCE_JOB) -> list[BatchJob]:
    return [BatchJob.from_record(r) for r in store.list_resources(kind, group)]


def recover_batch_jobs(store: Store) -> list[str]:
    """End the batch jobs whose process is gone (killed or crashed); returns their ARNs.

    A job killed while its finished files moved into place is ACTIVE when they all moved (its stats were
    recorded first); any other is CREATE FAILED with the line it reached, and keeps its working output so the
    same job (same name, input and settings) resumes there."""
    ended = []
    for kind in (BATCH_INFERENCE_JOB, BATCH_SEGMENT_JOB):
        for job in store.interrupted_jobs(kind):
            work = work_dir(store, kind, job["group"], job["name"])
            if job.get("stage") == PUBLISHING and not (work / WORK_OUTPUT).exists() and not (work / WORK_CSV).exists():
                done = store.end_interrupted(job, ACTIVE, None, {"stage": "done", "progress": {"percent": 100.0}})
                if done:
                    shutil.rmtree(work, ignore_errors=True)
            else:
                where = ("while moving its finished files into place" if job.get("stage") == PUBLISHING else
                         f"at line {job.get('lines_done') or 0:,} of {job.get('lines_total') or 0:,}")
                reason = (f"interrupted: the process that ran it stopped (killed or crashed) {where}. Run the same "
                          f"job again (name {job['name']!r}, same input and settings) to resume from there.")
                done = store.end_interrupted(job, CREATE_FAILED, reason)
            if done:
                ended.append(job["arn"])
    return ended
