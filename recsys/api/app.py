"""The ASGI app speaking Personalize's rest-json wire protocol (runtime + events) over one workspace.

Example::

    app = create_app(Store("data/workspace"))
    uvicorn.run(app, host="127.0.0.1", port=8080)

Every request to an operation is: body read with a size limit -> SigV4 check -> JSON decode -> validation
against botocore's service model -> authorisation (the target's dataset group must be one of the key's
groups) -> library call -> Personalize-shaped JSON. GetRecommendations and GetPersonalizedRanking run on the
event loop when their campaign is warm (about a millisecond of CPU: cheaper than a thread hop, and no GIL convoys);
writes, and reads that must first load a model or rebuild a catalogue, run in worker threads. Errors carry the status
code, `x-amzn-ErrorType` header and `{"message": ...}` body botocore parses into `ClientError`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import gc
import json
import logging
import threading
import time
import uuid
from typing import Any, Callable

import anyio
import anyio.to_thread
import cachetools
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from recsys.api import keys as api_keys
from recsys.api.access import ArnResolver, require_group
from recsys.api.control import ControlPlane
from recsys.api.errors import environment_error, invalid_input, not_found
from recsys.api.metrics import Metrics
from recsys.api.wire import DECODER as _DECODER
from recsys.api.wire import Outcome as _Outcome
from recsys.api.wire import dumps as _dumps
from recsys.api.models import OPERATIONS, Operation, signing_name, validate_request
from recsys.api.sigv4 import verify_request
from recsys.event_writer import SpoolMover
from recsys.exceptions import (
    ApiError, AuthError, ConflictError, EnvironmentProblem, InvalidInput, NotFoundError, RecsysError, ValidationError,
)
from recsys.files import environment_problem
from recsys.recovery import recover

log = logging.getLogger("recsys.api")
access_log = logging.getLogger("recsys.api.access")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_KEY_CACHE_SECONDS = 5.0
# Past the limit the rest of the body is read and dropped (so the client can read the 400) up to this many
# bytes; beyond that the connection is closed.
_DRAIN_FACTOR = 16

# Operations answered on the event loop itself (fast, read-only); writes (events, items, users), which may wait
# for the database lock, run in worker threads.
READ_OPERATIONS = frozenset({"GetRecommendations", "GetPersonalizedRanking"})



def _clean_item(item: dict) -> dict:
    """A PredictedItem with absent members left out, as Personalize sends it."""
    out = {}
    for key in ("itemId", "score", "promotionName", "metadata", "reason"):
        value = item.get(key)
        if value is None:
            continue
        if key == "score":
            value = float(value)
        out[key] = value
    return out


def _expiring_cache(seconds: float, load: Callable[[str], Any], max_size: int = 10_000) -> Callable[[str], Any]:
    """`load` remembered per key for `seconds` (0: not at all). A miss raises NotFoundError, which is never
    cached, so a key created a moment ago works at once."""
    if seconds <= 0:
        return load
    return cachetools.cached(cachetools.TTLCache(max_size, seconds), lock=threading.Lock())(load)


class PersonalizeAPI:
    """State shared by the routes: the store, key and tracker caches, metrics."""

    def __init__(
        self,
        store,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        key_cache_seconds: float = DEFAULT_KEY_CACHE_SECONDS,
        max_clock_skew_seconds: int = 300,
        worker_threads: int = 40,
        inline_reads: bool = True,
    ):
        self.store = store
        self.inline_reads = inline_reads
        self.max_body_bytes = max_body_bytes
        self.max_clock_skew_seconds = max_clock_skew_seconds
        self.metrics = Metrics()
        self.worker_threads = worker_threads
        self._limiter_obj: anyio.CapacityLimiter | None = None
        self._key = _expiring_cache(key_cache_seconds, lambda key_id: api_keys.get_key(self.store, key_id))
        self._tracker_group_of = _expiring_cache(key_cache_seconds, self._find_tracker_group)
        self.resolver = ArnResolver(store)
        self._handlers: dict[str, Callable[[dict, dict], Any]] = {
            "GetRecommendations": self._get_recommendations,
            "GetPersonalizedRanking": self._get_personalized_ranking,
            "PutEvents": self._put_events,
            "PutItems": self._put_items,
            "PutUsers": self._put_users,
        }

    @property
    def _limiter(self) -> anyio.CapacityLimiter:
        # created lazily, inside the server's event loop
        if self._limiter_obj is None:
            self._limiter_obj = anyio.CapacityLimiter(self.worker_threads)
        return self._limiter_obj

    # -- the request pipeline ------------------------------------------------------------------------

    async def endpoint(self, request: Request) -> Response:
        scope = request.scope
        operation = OPERATIONS[(scope["method"], scope["path"])]
        start = time.perf_counter()
        request_id = str(uuid.uuid4())
        try:
            body = await self._read_body(request)
        except ApiError as exc:
            outcome = self._error(exc)
            body = None
        if body is None:
            pass
        elif self.inline_reads and operation.name in READ_OPERATIONS:
            # A recommendation is ~1 ms of CPU under the GIL: running it on the event loop is faster than a
            # worker-thread hop, and serving requests one at a time avoids GIL convoys between threads. A request
            # that would load a model or rebuild a catalogue first goes to a thread instead (outcome None).
            outcome = self._process(operation, request, body, only_if_warm=True)
            if outcome is None:
                outcome = await anyio.to_thread.run_sync(
                    self._process, operation, request, body, limiter=self._limiter
                )
        else:
            outcome = await anyio.to_thread.run_sync(
                self._process, operation, request, body, limiter=self._limiter
            )
        return self._finish(request, operation.name, outcome, start, request_id)

    async def _read_body(self, request: Request) -> bytes:
        """The body, or 400 past the size limit (the rest is read and dropped, up to a hard cap)."""
        limit = self.max_body_bytes
        over = False
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise invalid_input("Content-Length is not a number.")
            over = int(declared) > limit
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                over = True
                chunks.clear()
                if size > limit * _DRAIN_FACTOR:
                    break
            elif not over:
                chunks.append(chunk)
        if over:
            raise invalid_input(f"Request body is larger than the {limit}-byte limit; send fewer or smaller records.")
        return b"".join(chunks)

    def _process(self, operation: Operation, request: Request, body: bytes,
                 only_if_warm: bool = False) -> _Outcome | None:
        """Authenticate, validate, authorise and run one operation. With `only_if_warm`, None (and nothing done)
        when the campaign's model or catalogue must be loaded first."""
        key_id = None
        try:
            key = self._authenticate(request, body)
            key_id = key["accessKeyId"]
            params = self._decode(operation, body)
            with self._snapshot(operation):
                if only_if_warm and not self._is_warm(params):
                    return None
                result = self._handlers[operation.name](params, key)
            outcome = _Outcome(200, _dumps(result) if result is not None else b"")
        except ApiError as exc:
            outcome = self._error(exc)
        except AuthError as exc:
            outcome = self._error(ApiError(exc.status_code, exc.code, exc.message))
        except InvalidInput as exc:
            outcome = self._error(invalid_input(str(exc)))
        except ValidationError as exc:
            outcome = self._error(invalid_input(str(exc)))
        except NotFoundError as exc:
            outcome = self._error(not_found(str(exc)))
        except ConflictError as exc:
            if any(shape.name == "ResourceInUseException" for shape in operation.model.error_shapes):
                outcome = self._error(ApiError(409, "ResourceInUseException", str(exc)))
            else:
                outcome = self._error(invalid_input(str(exc)))
        except EnvironmentProblem as exc:
            outcome = self._error(environment_error(exc))
        except RecsysError as exc:
            outcome = self._error(invalid_input(str(exc)))
        except Exception as exc:
            problem = environment_problem(exc, self.store.db_path)
            if problem is not None:
                outcome = self._error(environment_error(problem))
            else:
                log.exception("Unexpected error in %s", operation.name)
                outcome = self._error(
                    ApiError(500, "InternalFailure", "The server hit an unexpected error; see the server log.")
                )
        outcome.access_key_id = key_id
        return outcome

    def _authenticate(self, request: Request, body: bytes) -> dict:
        scope = request.scope
        query = scope.get("query_string", b"").decode("latin-1")
        path = scope.get("raw_path") or scope["path"].encode()
        host = request.headers.get("host", "")
        url = f"{scope.get('scheme', 'http')}://{host}{path.decode('latin-1')}" + (f"?{query}" if query else "")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        found: dict[str, dict | None] = {}

        def secret_for(access_key_id: str) -> str | None:
            try:
                found["key"] = self._key(access_key_id)
            except NotFoundError:
                found["key"] = None
            return found["key"]["secret"] if found["key"] else None

        verify_request(
            request.method,
            url,
            headers,
            body,
            secret_for,
            service=signing_name("personalize-runtime"),
            max_skew_seconds=self.max_clock_skew_seconds,
        )
        return found["key"]

    def _snapshot(self, operation: Operation):
        """For reads, one view of the workspace for the whole request: authorisation and the answer share the
        serving cache's single check for new writes."""
        if operation.name not in READ_OPERATIONS:
            return contextlib.nullcontext()
        from recsys.serving.reader import READER

        return READER.snapshot(self.store)

    def _is_warm(self, params: dict) -> bool:
        campaign = params.get("campaignArn") or params.get("recommenderArn")
        if not campaign:
            return True
        from recsys.serving import RUNTIME

        return RUNTIME.is_warm(self.store, self.resolver.canonical(campaign))

    @staticmethod
    def _decode(operation: Operation, body: bytes) -> dict:
        if not body.strip():
            data: Any = {}
        else:
            try:
                data = _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
            except (ValueError, RecursionError) as exc:
                raise invalid_input(f"The request body is not valid JSON: {str(exc)[:200]}") from None
        return validate_request(operation, data)

    @staticmethod
    def _error(exc: ApiError) -> _Outcome:
        return _Outcome(
            exc.status,
            _dumps({"message": exc.message}),
            error_code=exc.code,
            headers={"x-amzn-ErrorType": exc.code},
        )

    def _finish(self, request: Request, operation: str, outcome: _Outcome, start: float, request_id: str) -> Response:
        headers = {"x-amzn-RequestId": request_id, **outcome.headers}
        response = Response(outcome.body, status_code=outcome.status, media_type=outcome.content_type, headers=headers)
        elapsed = time.perf_counter() - start
        self.metrics.observe(operation, outcome.status, elapsed)
        if access_log.isEnabledFor(logging.INFO):
            client = request.client
            access_log.info(
                json.dumps(
                    {
                        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds"),
                        "requestId": request_id,
                        "remote": f"{client.host}:{client.port}" if client else None,
                        "method": request.method,
                        "path": request.url.path,
                        "operation": operation,
                        "status": outcome.status,
                        "error": outcome.error_code,
                        "accessKeyId": outcome.access_key_id,
                        "latencyMs": round(elapsed * 1000, 3),
                        "bytesOut": len(outcome.body),
                    }
                )
            )
        return response

    # -- authorisation -------------------------------------------------------------------------------

    def _authorize(self, key: dict, operation: str, arns: list[str], what: str = "resource") -> str:
        """The dataset group of the request's target ARNs; 404 when unknown, 403 unless the key may touch it."""
        return self.resolver.authorize(key, operation, arns, what)

    def _tracker_group(self, tracking_id: str) -> str | None:
        try:
            return self._tracker_group_of(tracking_id)
        except NotFoundError:
            return None

    def _find_tracker_group(self, tracking_id: str) -> str:
        from recsys.events import find_tracker

        return find_tracker(self.store, tracking_id)["group"]

    def _dataset_group(self, key: dict, operation: str, arn: str, dataset_type: str) -> str:
        group = self._authorize(key, operation, [arn], "dataset")
        try:
            dataset = self.store.find_resource(self.resolver.canonical(arn))
        except NotFoundError:
            raise not_found(f"No dataset with ARN {arn!r} in dataset group {group!r}.") from None
        if dataset["group"] != group:  # our ARNs embed their group; never trust one that does not
            raise not_found(f"No dataset with ARN {arn!r} in dataset group {group!r}.")
        found_type = dataset.get("datasetType") or dataset.get("dataset_type")
        if dataset["type"] != "dataset" or (found_type and str(found_type).upper() != dataset_type.upper()):
            raise invalid_input(
                f"{arn} is not the {dataset_type} dataset of {group!r}; "
                f"{operation} needs the {dataset_type} dataset ARN."
            )
        return group

    # -- operations ----------------------------------------------------------------------------------

    def _get_recommendations(self, params: dict, key: dict) -> dict:
        campaign = params.get("campaignArn") or params.get("recommenderArn")
        promotions = params.get("promotions")
        arns = [campaign, params.get("filterArn")] + [p.get("filterArn") for p in promotions or []]
        self._authorize(key, "GetRecommendations", [a for a in arns if a])
        from recsys.serving import get_recommendations

        canonical = self.resolver.canonical
        if promotions:
            promotions = [{**p, "filterArn": canonical(p["filterArn"])} if p.get("filterArn") else p
                          for p in promotions]
        result = get_recommendations(
            self.store,
            canonical(campaign),
            user_id=params.get("userId"),
            item_id=params.get("itemId"),
            num_results=params.get("numResults", 25),
            context=params.get("context"),
            filter_arn=canonical(params["filterArn"]) if params.get("filterArn") else None,
            filter_values=params.get("filterValues"),
            promotions=promotions,
            metadata_columns=params.get("metadataColumns"),
        )
        return {
            "itemList": [_clean_item(item) for item in result.get("itemList", [])],
            "recommendationId": result.get("recommendationId"),
        }

    def _get_personalized_ranking(self, params: dict, key: dict) -> dict:
        arns = [params["campaignArn"], params.get("filterArn")]
        self._authorize(key, "GetPersonalizedRanking", [a for a in arns if a])
        from recsys.serving import get_personalized_ranking

        canonical = self.resolver.canonical
        result = get_personalized_ranking(
            self.store,
            canonical(params["campaignArn"]),
            user_id=params["userId"],
            input_list=params["inputList"],
            context=params.get("context"),
            filter_arn=canonical(params["filterArn"]) if params.get("filterArn") else None,
            filter_values=params.get("filterValues"),
            metadata_columns=params.get("metadataColumns"),
        )
        return {
            "personalizedRanking": [_clean_item(item) for item in result.get("personalizedRanking", [])],
            "recommendationId": result.get("recommendationId"),
        }

    def _put_events(self, params: dict, key: dict) -> None:
        tracking_id = params["trackingId"]
        group = self._tracker_group(tracking_id)
        if group is None:
            raise not_found(
                f"No event tracker with trackingId {tracking_id!r}; create one for the dataset group first."
            )
        require_group(key, "PutEvents", group, f"trackingId {tracking_id}")
        from recsys.events import put_events

        put_events(self.store, tracking_id, params["sessionId"], params.get("userId"), params["eventList"])
        return None

    def _put_items(self, params: dict, key: dict) -> None:
        group = self._dataset_group(key, "PutItems", params["datasetArn"], "Items")
        from recsys.events import put_items

        put_items(self.store, group, params["items"])
        return None

    def _put_users(self, params: dict, key: dict) -> None:
        group = self._dataset_group(key, "PutUsers", params["datasetArn"], "Users")
        from recsys.events import put_users

        put_users(self.store, group, params["users"])
        return None

    # -- unauthenticated operations ------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        start = time.perf_counter()

        def check() -> bool:
            try:
                with self.store.reading() as db:
                    db.execute("SELECT 1").fetchone()
                return True
            except Exception:
                log.exception("Health check failed")
                return False

        ok = await run_in_threadpool(check)
        from recsys import __version__

        body = {"status": "ok" if ok else "unavailable", "version": __version__}
        outcome = _Outcome(200 if ok else 503, _dumps(body))
        return self._finish(request, "Health", outcome, start, str(uuid.uuid4()))

    async def metrics_endpoint(self, request: Request) -> Response:
        start = time.perf_counter()
        outcome = _Outcome(200, self.metrics.render().encode(), content_type="text/plain; version=0.0.4; charset=utf-8")
        return self._finish(request, "Metrics", outcome, start, str(uuid.uuid4()))

    async def unknown(self, request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        if status == 405:
            error = ApiError(
                405, "MethodNotAllowedException", f"{request.method} is not allowed on {request.url.path}."
            )
        else:
            error = ApiError(404, "UnknownOperationException", f"No operation at {request.method} {request.url.path}.")
        return self._finish(request, "Unknown", self._error(error), time.perf_counter(), str(uuid.uuid4()))


def warm_campaigns(store) -> int:
    """Load the model of every ACTIVE campaign into this process's serving cache; returns how many loaded.

    Run at start-up so no client pays for a model load; a campaign that fails to load is logged and skipped
    (its requests then answer with the error).
    """
    from recsys.campaigns import list_campaigns
    from recsys.serving import RUNTIME, resolve_campaign

    loaded = 0
    for campaign in list_campaigns(store):
        if campaign.status != "ACTIVE":
            continue
        try:
            _, version_arn = resolve_campaign(store, campaign.arn)
            RUNTIME.model(store, version_arn)
            loaded += 1
        except Exception as exc:  # a broken artifact must not stop the server
            log.warning("Could not load campaign %s at start-up: %s", campaign.arn, exc)
    return loaded


def _lifespan_for(api: "PersonalizeAPI", warm: bool, freeze_gc: bool):
    @contextlib.asynccontextmanager
    async def lifespan(app):
        if warm:
            started = time.perf_counter()
            loaded = await run_in_threadpool(warm_campaigns, api.store)
            log.info("Loaded %d campaign model(s) in %.2fs", loaded, time.perf_counter() - started)
        if freeze_gc:
            # Move everything imported and loaded so far out of the garbage collector's view: with numpy, pandas
            # and models in the heap, full collections otherwise cost milliseconds and show up in p99.
            gc.collect()
            gc.freeze()
        mover = SpoolMover(api.store).start()  # spooled events move in even when no PutEvents follows
        try:
            yield
        finally:
            mover.stop()

    return lifespan


def create_app(
    store,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    key_cache_seconds: float = DEFAULT_KEY_CACHE_SECONDS,
    max_clock_skew_seconds: int = 300,
    warm: bool = True,
    freeze_gc: bool = False,
    worker_threads: int = 40,
    inline_reads: bool = True,
) -> Starlette:
    """The ASGI app for `store`'s workspace: Personalize control plane (POST /), runtime + events operations,
    /health, /metrics.

    `max_body_bytes`: larger bodies get 400. `key_cache_seconds`: how long a found key (and tracker) is
    reused before it is read again, i.e. how soon a deleted key stops working. `warm`: load every ACTIVE
    campaign's model at start-up (ASGI lifespan). `freeze_gc`: after start-up, exclude the heap from cyclic
    garbage collection (`gc.freeze()`, for a dedicated server process: shorter GC pauses, better p99).
    `worker_threads`: how many write requests (PutEvents, PutItems, PutUsers) run at once; the rest wait.
    `inline_reads`: answer GetRecommendations / GetPersonalizedRanking on the event loop (default; they take about
    a millisecond of CPU, and a thread hop plus GIL hand-offs cost more than they save); False runs them in
    worker threads too.
    `app.state.api` is the PersonalizeAPI (`.metrics`); `app.state.control` the ControlPlane (`.jobs`). Jobs a
    killed process left running are ended first (`recsys.recovery.recover`).
    """
    recover(store)
    api = PersonalizeAPI(
        store,
        max_body_bytes=max_body_bytes,
        key_cache_seconds=key_cache_seconds,
        max_clock_skew_seconds=max_clock_skew_seconds,
        worker_threads=worker_threads,
        inline_reads=inline_reads,
    )
    control = ControlPlane(api)
    routes = [Route(op.path, api.endpoint, methods=[op.method]) for op in OPERATIONS.values()]
    routes.append(Route("/", control.endpoint, methods=["POST"]))  # the control plane: X-Amz-Target dispatch
    routes += [
        Route("/health", api.health, methods=["GET"]),
        Route("/metrics", api.metrics_endpoint, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={404: api.unknown, 405: api.unknown},
        lifespan=_lifespan_for(api, warm, freeze_gc),
    )
    app.state.api = api
    app.state.control = control
    return app
