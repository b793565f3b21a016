"""Batch inference and batch segment jobs: JSON lines in and out as Personalize writes them, plus marketing CSVs.

Example::

    create_batch_inference_job(store, "shop", "nightly", version_arn, "users.jsonl", "recs.jsonl",
                               num_results=10, csv_path="recs.csv", item_columns=["CATEGORY_L1"])
    create_batch_segment_job(store, "shop", "launch", segment_version_arn, "items.jsonl", "segments.jsonl",
                             csv_path="segments.csv", user_columns=["MEMBERSHIP"])

Input is read in chunks (`chunk_size` lines) and scored with the recipe's batch methods, so memory stays
bounded whatever the file size. Output goes to ``<output>.partial`` (flushed after every chunk) and is renamed
when complete; running the same job again with ``resume=True`` continues after the last complete line. A bad
input line gets an ``"error"`` on its own output line and the job carries on.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from recsys import columns as C
from recsys.exceptions import ConflictError, NotFoundError, RecsysError, ValidationError
from recsys.store import ACTIVE, CREATE_FAILED, CREATE_IN_PROGRESS, Store, validate_name

logger = logging.getLogger(__name__)

BATCH_INFERENCE_JOB = "batch-inference-job"
BATCH_SEGMENT_JOB = "batch-segment-job"
DEFAULT_CHUNK_SIZE = 1000
MAX_NUM_RESULTS = 500
MAX_MASK_CELLS = 50_000_000  # cap on chunk_size x catalogue for per-line filter masks (bool bytes)

USER_BASED = ("USER_PERSONALIZATION", "POPULAR_ITEMS")
RANKING = "PERSONALIZED_RANKING"
RELATED = "RELATED_ITEMS"
SEGMENTATION = "USER_SEGMENTATION"
# Recipes whose batch output has no "scores", as in Personalize (popularity is a USER_PERSONALIZATION class here).
UNSCORED_RECIPES = ("aws-popularity-count", "aws-trending-now")


class LineError(ValidationError):
    """A problem with one input line; reported on that line's output and the job continues."""


# -- shared streaming machinery ----------------------------------------------------------------------------


def _partial_path(output: Path) -> Path:
    return output.with_name(output.name + ".partial")


def _resume_point(partial: Path) -> tuple[int, int]:
    """Complete lines already in `partial` (a trailing half line is cut off) and how many carry an error."""
    if not partial.exists():
        return 0, 0
    done = failed = 0
    good_bytes = 0
    with open(partial, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                break
            try:
                record = json.loads(raw)
            except ValueError:
                break
            done += 1
            good_bytes += len(raw)
            if record.get("error"):
                failed += 1
    with open(partial, "r+b") as fh:
        fh.truncate(good_bytes)
    return done, failed


def _count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as fh:
        for raw in fh:
            if raw.strip():
                n += 1
    return n


def _input_lines(path: Path, skip: int) -> Iterator[str]:
    """Non-blank lines of the input file after the first `skip` of them."""
    seen = 0
    with open(path, "r", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.strip():
                continue
            seen += 1
            if seen > skip:
                yield line.rstrip("\r\n")


def _chunks(lines: Iterator[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


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


_RESUME_KEYS = ("solution_version_arn", "input_path", "output_path", "num_results", "filter_arn")


class _Job:
    """Resource bookkeeping and the resumable chunk loop shared by both job kinds."""

    def __init__(self, store: Store, kind: str, group: str, name: str, body: dict, resume: bool):
        validate_name(name, "job name")
        self.store, self.kind, self.group, self.name = store, kind, group, name
        try:
            existing = store.get_resource(kind, group, name)
        except NotFoundError:
            existing = None
        if existing is not None:
            if existing["status"] == ACTIVE or not resume:
                raise ConflictError(f"A {kind} named {name!r} already exists in {group!r}; pick another job name.")
            changed = [k for k in _RESUME_KEYS if k in existing and existing.get(k) != body.get(k)]
            if changed:
                raise ConflictError(
                    f"Cannot resume {kind} {name!r}: {', '.join(changed)} differ from the interrupted run; "
                    "rerun it with the same settings, or pick another job name."
                )
            store.update_resource(kind, group, name, status=CREATE_IN_PROGRESS, body=body)
        else:
            store.create_resource(kind, group, name, body, status=CREATE_IN_PROGRESS)

    def update(self, **body) -> None:
        self.store.update_resource(self.kind, self.group, self.name, body=body)

    def fail(self, exc: BaseException) -> None:
        self.store.update_resource(self.kind, self.group, self.name, status=CREATE_FAILED, failure_reason=str(exc))

    def finish(self, **body) -> dict:
        return self.store.update_resource(self.kind, self.group, self.name, status=ACTIVE, body=body)

    def stream(self, input_path: Path, output_path: Path, process: Callable[[list[str]], list[dict]],
               chunk_size: int, resume: bool, progress) -> dict:
        """Run `process` over the input chunk by chunk into `<output>.partial`, then rename it to `output`."""
        partial = _partial_path(output_path)
        output_path.parent.mkdir(parents=True, exist_ok=True)
        if not resume and partial.exists():
            partial.unlink()
        done, failed = _resume_point(partial)
        total = _count_lines(input_path)
        resumed_from = done
        started = time.perf_counter()
        self.update(lines_total=total, lines_done=done, lines_failed=failed, resumed_from=resumed_from,
                    progress={"percent": round(100 * done / total, 1) if total else 100.0})
        with open(partial, "a", encoding="utf-8") as out:
            for chunk in _chunks(_input_lines(input_path, done), chunk_size):
                records = process(chunk)
                out.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
                out.flush()
                os.fsync(out.fileno())
                done += len(records)
                failed += sum(1 for r in records if r.get("error"))
                percent = round(100 * done / total, 1) if total else 100.0
                self.update(lines_done=done, lines_failed=failed, progress={"percent": percent})
                if progress is not None:
                    progress(done, total)
        os.replace(partial, output_path)
        seconds = time.perf_counter() - started
        return {"lines_total": total, "lines_done": done, "lines_failed": failed, "resumed_from": resumed_from,
                "seconds": round(seconds, 3),
                "lines_per_second": round((done - resumed_from) / seconds, 1) if seconds > 0 else None}


def _write_csv(path: Path, header: list[str], rows: Iterator[list]) -> int:
    """Write a CSV to a temp file and rename it into place; returns the number of data rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            n += 1
    os.replace(tmp, path)
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


def _read_table(store: Store, group: str, dataset_type: str) -> pd.DataFrame | None:
    try:
        from recsys import datasets
    except ImportError:
        datasets = None
    if datasets is not None:
        reader = datasets.read_items if dataset_type == C.ITEMS else datasets.read_users
        try:
            return reader(store, group)
        except NotFoundError:
            return None
    from recsys.data import load_training_data

    td = load_training_data(store, group)
    return td.items if dataset_type == C.ITEMS else td.users


def _model_and_version(store: Store, solution_version_arn: str):
    from recsys.runs import load_model
    from recsys.solutions import get_solution_version

    version = get_solution_version(store, solution_version_arn)
    return load_model(store, solution_version_arn), version


# -- filters -----------------------------------------------------------------------------------------------


class _Filter:
    """A named filter turned into per-line item masks aligned with the model's catalogue."""

    def __init__(self, store: Store, group: str, filter_arn: str, model):
        from recsys.filters import load_filter

        self.store, self.group, self.model, self.arn = store, group, model, filter_arn
        self.compiled = load_filter(store, filter_arn)
        self.item_ids = np.asarray(model.item_ids_)
        datasets_used = {d.lower() for d, _ in self.compiled.fields}
        self.needs_history = "interactions" in datasets_used
        self._items = _read_table(store, group, C.ITEMS)
        self._users = _read_table(store, group, C.USERS)

    def mask(self, user_id: str | None = None, item_id: str | None = None, values: dict | None = None) -> np.ndarray:
        from recsys.filters import FilterContext

        history = None
        if user_id is not None and self.needs_history:
            from recsys.datasets import user_history

            history = user_history(self.store, self.group, user_id)
        ctx = FilterContext(self.item_ids, items=self._items, user_interactions=history, users=self._users,
                            user_id=user_id, current_item_id=item_id)
        return np.asarray(self.compiled.item_mask(ctx, values), dtype=bool)


# -- batch inference ---------------------------------------------------------------------------------------


def _recommend_one_by_one(fn, ids: list[str], masks: list | None) -> list:
    """Call `fn([id], mask)` per id, keeping exceptions per line (used when a chunk call fails)."""
    out = []
    for i, one in enumerate(ids):
        try:
            out.append(fn([one], None if masks is None else masks[i][None, :])[0])
        except RecsysError as exc:
            out.append(exc)
        except (KeyError, IndexError, ValueError) as exc:
            out.append(LineError(f"{type(exc).__name__}: {exc}"))
    return out


def _call_chunked(fn, ids: list[str], masks: list | None) -> list:
    if not ids:
        return []
    try:
        stacked = None if masks is None else np.vstack(masks)
        return list(fn(ids, stacked))
    except (RecsysError, KeyError, IndexError, ValueError):
        return _recommend_one_by_one(fn, ids, masks)


class _InferenceProcessor:
    """Turns a chunk of input lines into output records for one model."""

    def __init__(self, model, recipe_type: str, num_results: int, flt: _Filter | None, exclude_seen: bool = False):
        self.model, self.recipe_type, self.n, self.filter = model, recipe_type, num_results, flt
        self.exclude_seen = exclude_seen
        self.with_scores = recipe_type != "POPULAR_ITEMS" and getattr(model, "name", "") not in UNSCORED_RECIPES
        self.catalogue = np.asarray(model.item_ids_)
        self.position = {item: i for i, item in enumerate(self.catalogue.tolist())}

    def __call__(self, lines: list[str]) -> list[dict]:
        parsed = [_parse_line(line) for line in lines]
        out: list[dict | None] = [None] * len(lines)
        jobs: list[tuple[int, Any, str, np.ndarray | None, list | None]] = []
        for i, (echo, record, error) in enumerate(parsed):
            if error:
                out[i] = {"input": echo, "output": None, "error": error}
                continue
            try:
                jobs.append((i, echo, *self._prepare(record)))
            except RecsysError as exc:
                out[i] = {"input": echo, "output": None, "error": str(exc)}
        results = self._score([j[2] for j in jobs], [j[3] for j in jobs], [j[4] for j in jobs])
        for (i, echo, _key, _mask, item_list), result in zip(jobs, results):
            if isinstance(result, Exception):
                out[i] = {"input": echo, "output": None, "error": str(result)}
            else:
                out[i] = self._record(echo, result, item_list)
        return out  # type: ignore[return-value]

    def _prepare(self, record: dict) -> tuple[str, np.ndarray | None, list | None]:
        """(query id, allowed mask or None, itemList or None) for one line."""
        values = _filter_values(record)
        if self.recipe_type == RELATED:
            key = _id_field(record, "itemId")
            mask = self.filter.mask(item_id=key, values=values) if self.filter else None
            return key, mask, None
        key = _id_field(record, "userId")
        mask = self.filter.mask(user_id=key, values=values) if self.filter else None
        if self.recipe_type != RANKING:
            return key, mask, None
        item_list = record.get("itemList")
        if not isinstance(item_list, list) or not item_list:
            raise LineError('PERSONALIZED_RANKING lines need "itemList": a non-empty list of item ids.')
        item_list = [str(i) for i in item_list]
        allowed = np.zeros(len(self.catalogue), dtype=bool)
        allowed[[self.position[i] for i in item_list if i in self.position]] = True
        if mask is not None:
            allowed &= mask
        return key, allowed, item_list

    def _score(self, keys: list[str], masks: list, item_lists: list) -> list:
        if self.recipe_type == RELATED:
            def fn(ids, allowed):
                return self.model.similar_items(ids, n=self.n, allowed=allowed)
        elif self.recipe_type == RANKING:
            n_rank = max((len(x) for x in item_lists), default=1)

            def fn(ids, allowed):
                return self.model.recommend(ids, n=n_rank, allowed=allowed, exclude_seen=False)
        else:
            def fn(ids, allowed):
                return self.model.recommend(ids, n=self.n, allowed=allowed, exclude_seen=self.exclude_seen)
        use_masks = masks if any(m is not None for m in masks) else None
        if use_masks is not None:
            use_masks = [np.ones(len(self.catalogue), dtype=bool) if m is None else m for m in use_masks]
        return _call_chunked(fn, keys, use_masks)

    def _record(self, echo: dict, rec, item_list: list | None) -> dict:
        items = [str(i) for i in np.asarray(rec.item_ids).tolist()]
        scores = [float(s) for s in np.asarray(rec.scores, dtype=float).tolist()] if rec.scores is not None else None
        if self.recipe_type == RANKING:
            # Personalize ranks the input list (scores sum to 1 over it); items the model never saw go last
            # with score 0, unless a filter is set (their metadata cannot be checked, so they are left out).
            total = float(sum(scores or [])) or 1.0
            scores = [s / total for s in scores or [0.0] * len(items)]
            if self.filter is None:
                unknown = [i for i in dict.fromkeys(item_list or []) if i not in self.position]
                items += unknown
                scores += [0.0] * len(unknown)
            output = {"recommendedItems": items, "scores": [_number(s) for s in scores]}
            return {"input": echo, "output": output, "error": None}
        output: dict[str, Any] = {"recommendedItems": items}
        if self.recipe_type == RELATED:
            return {"input": echo, "output": output}
        if not self.with_scores:
            return {"input": echo, "output": output}
        output["scores"] = [_number(s) for s in scores or []]
        return {"input": echo, "output": output, "error": None}


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
) -> dict:
    """Run a batch inference job (Personalize `CreateBatchInferenceJob`) synchronously; returns the job.

    Input lines by recipe type: ``{"userId": "42"}`` (user personalization, popularity),
    ``{"userId": "42", "itemList": ["1", "2"]}`` (personalized ranking), ``{"itemId": "7"}`` (related items);
    any line may add ``"filterValues": {"PARAM": "\\"a\\",\\"b\\""}`` for a filter with parameters.

    Parameters
    ----------
    csv_path, item_columns : also write ``USER_ID,RANK,ITEM_ID,SCORE,<item columns>`` (``ITEM_ID`` first column
        becomes ``SOURCE_ITEM_ID`` for related items) for marketing tools.
    progress : ``progress(lines_done, lines_total)`` after every chunk.
    resume : continue an interrupted job from ``<output>.partial`` (same job name).
    exclude_seen : drop items the user interacted with in training (an extension; Personalize keeps them,
        as real-time inference does here; a filter on Interactions is the Personalize way).
    """
    if not 1 <= int(num_results) <= MAX_NUM_RESULTS:
        raise ValidationError(f"num_results must be between 1 and {MAX_NUM_RESULTS}, got {num_results}.")
    input_path, output_path = Path(input_path), Path(output_path)
    if not input_path.is_file():
        raise NotFoundError(f"Batch input file {input_path} does not exist.")
    model, version = _model_and_version(store, solution_version_arn)
    recipe_type = getattr(model, "recipe_type", version.get("recipe_type"))
    if recipe_type not in (*USER_BASED, RANKING, RELATED):
        hint = " use a batch segment job" if recipe_type == SEGMENTATION else ""
        raise ValidationError(f"Batch inference does not support {recipe_type} recipes ({version['recipe']});{hint}.")
    item_lookup = _metadata_lookup(_read_table(store, group, C.ITEMS), C.ITEM_ID, list(item_columns or []), "Items") \
        if item_columns else {}
    flt = _Filter(store, group, filter_arn, model) if filter_arn else None
    body = {
        "solution_version_arn": solution_version_arn, "input_path": str(input_path), "output_path": str(output_path),
        "csv_path": str(csv_path) if csv_path else None, "item_columns": list(item_columns or []),
        "num_results": int(num_results), "filter_arn": filter_arn, "recipe_type": recipe_type,
        "exclude_seen": bool(exclude_seen),
    }
    job = _Job(store, BATCH_INFERENCE_JOB, group, job_name, body, resume)
    try:
        size = chunk_size
        if flt is not None or recipe_type == RANKING:
            size = max(1, min(chunk_size, MAX_MASK_CELLS // max(1, len(model.item_ids_))))
        stats = job.stream(input_path, output_path, _InferenceProcessor(model, recipe_type, int(num_results), flt,
                                                                  exclude_seen),
                           size, resume, progress)
        if csv_path:
            stats["csv_rows"] = _inference_csv(Path(csv_path), output_path, recipe_type, list(item_columns or []),
                                               item_lookup)
    except BaseException as exc:
        job.fail(exc)
        raise
    return job.finish(**stats, progress={"percent": 100.0})


def _inference_csv(path: Path, output: Path, recipe_type: str, item_columns: list[str], lookup: dict) -> int:
    key, first = ("itemId", "SOURCE_ITEM_ID") if recipe_type == RELATED else ("userId", C.USER_ID)
    blank = [""] * len(item_columns)

    def rows():
        for record in _output_records(output):
            if record.get("error") or not record.get("output"):
                continue
            query = record["input"].get(key)
            items = record["output"]["recommendedItems"]
            scores = record["output"].get("scores") or [""] * len(items)
            for rank, (item, score) in enumerate(zip(items, scores), start=1):
                yield [query, rank, item, score, *lookup.get(item, blank)]

    return _write_csv(path, [first, "RANK", C.ITEM_ID, "SCORE", *item_columns], rows())


# -- batch segments ----------------------------------------------------------------------------------------

class _SegmentProcessor:
    """Turns a chunk of segment queries into output records (the recipe does the attribute matching)."""

    def __init__(self, model, num_results: int):
        self.model, self.n = model, num_results
        self.known = set(np.asarray(model.item_ids_).tolist())

    def __call__(self, lines: list[str]) -> list[dict]:
        out = []
        for line in lines:
            echo, record, error = _parse_line(line)
            if error:
                out.append({"input": echo, "output": None, "error": error})
                continue
            try:
                out.append({"input": echo, "output": {"recommendedUsers": self._users(record)}})
            except (RecsysError, KeyError, ValueError) as exc:
                out.append({"input": echo, "output": None, "error": str(exc)})
        return out

    def _users(self, record: dict) -> list[str]:
        if "itemAttributes" in record:
            query = record["itemAttributes"]
            if not isinstance(query, str) or not query.strip():
                raise LineError('"itemAttributes" must be a string like "ITEMS.GENRES = \\"Comedy\\"".')
            by_attributes = getattr(self.model, "users_for_attributes", None)
            if by_attributes is None:
                raise LineError(f"{self.model.name} segments users by item (itemId); itemAttributes queries need "
                                "an aws-item-attribute-affinity solution.")
            return _user_list(by_attributes([query], self.n))
        item = _id_field(record, "itemId")
        if item not in self.known:
            raise LineError(f"Item {item!r} was not in the training data; segments need items seen at training.")
        return _user_list(self.model.users_for_items([item], self.n))


def _user_list(result) -> list[str]:
    """users_for_items may return one Recommendations-like object, a list of them, or a list of ids."""
    if isinstance(result, (list, tuple)) and len(result) == 1 and not isinstance(result[0], str):
        result = result[0]
    for attr in ("user_ids", "item_ids"):
        if hasattr(result, attr):
            return [str(u) for u in np.asarray(getattr(result, attr)).tolist()]
    if isinstance(result, pd.DataFrame):
        return result[C.USER_ID].astype(str).tolist()
    return [str(u) for u in np.asarray(result).ravel().tolist()]


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
) -> dict:
    """Run a batch segment job (Personalize `CreateBatchSegmentJob`) for a USER_SEGMENTATION solution version.

    Input lines: ``{"itemId": "105"}`` or ``{"itemAttributes": "ITEMS.GENRES = \\"Comedy\\""}``; output lines
    ``{"input": ..., "output": {"recommendedUsers": [...]}}`` with `num_results` users per segment, most
    likely first. `csv_path` adds ``SEGMENT,RANK,USER_ID,<user columns>`` (all user columns by default).
    """
    if not 1 <= int(num_results) <= 5_000_000:
        raise ValidationError(f"num_results must be between 1 and 5,000,000 users per segment, got {num_results}.")
    input_path, output_path = Path(input_path), Path(output_path)
    if not input_path.is_file():
        raise NotFoundError(f"Batch segment input file {input_path} does not exist.")
    model, version = _model_and_version(store, solution_version_arn)
    recipe_type = getattr(model, "recipe_type", version.get("recipe_type"))
    if recipe_type != SEGMENTATION:
        raise ValidationError(
            f"Batch segment jobs need a USER_SEGMENTATION recipe (aws-item-affinity, aws-item-attribute-affinity); "
            f"{version['recipe']} is {recipe_type}. Use a batch inference job instead."
        )
    users_lookup, columns = {}, []
    if csv_path:
        users = _read_table(store, group, C.USERS)
        columns = list(user_columns) if user_columns is not None else (
            [c for c in users.columns if c != C.USER_ID and not c.startswith("_")] if users is not None else [])
        users_lookup = _metadata_lookup(users, C.USER_ID, columns, "Users") if columns else {}
    body = {
        "solution_version_arn": solution_version_arn, "input_path": str(input_path), "output_path": str(output_path),
        "csv_path": str(csv_path) if csv_path else None, "num_results": int(num_results),
    }
    job = _Job(store, BATCH_SEGMENT_JOB, group, job_name, body, resume)
    try:
        stats = job.stream(input_path, output_path, _SegmentProcessor(model, int(num_results)), chunk_size, resume,
                           progress)
        if csv_path:
            stats["csv_rows"] = _segment_csv(Path(csv_path), output_path, columns, users_lookup)
    except BaseException as exc:
        job.fail(exc)
        raise
    return job.finish(**stats, progress={"percent": 100.0})


def _segment_csv(path: Path, output: Path, columns: list[str], lookup: dict) -> int:
    blank = [""] * len(columns)

    def rows():
        for record in _output_records(output):
            if record.get("error") or not record.get("output"):
                continue
            query = record["input"]
            segment = query.get("itemId") if "itemId" in query else query.get("itemAttributes")
            for rank, user in enumerate(record["output"]["recommendedUsers"], start=1):
                yield [segment, rank, user, *lookup.get(user, blank)]

    return _write_csv(path, ["SEGMENT", "RANK", C.USER_ID, *columns], rows())


def list_batch_jobs(store: Store, group: str | None = None, kind: str = BATCH_INFERENCE_JOB) -> list[dict]:
    return store.list_resources(kind, group)
