"""The HTTP API on a real uvicorn server, driven by unmodified boto3 clients, raw httpx and the AWS CLI."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.api import create_app, create_key, delete_key, get_key, list_keys
from recsys.api.models import OPERATIONS, validate_request
from recsys.api.server import serve_in_background
from recsys.api.sigv4 import sign_request
from recsys.exceptions import InvalidInput, NotFoundError, ValidationError
from recsys.store import Store

ROOT = Path(__file__).resolve().parents[1]
MAX_BODY = 64 * 1024


class Live:
    """A running server on a workspace with groups g1 and g2, one key for each."""

    def __init__(self, store: Store, url: str):
        self.store = store
        self.url = url
        self.key1 = create_key(store, ["g1"])
        self.key2 = create_key(store, ["g2"])

    def client(self, service: str, key=None, validate: bool = True):
        access_key_id, secret = key or self.key1
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret,
            config=Config(parameter_validation=validate, retries={"max_attempts": 1, "mode": "standard"}),
        )

    def signed_post(self, path: str, body: bytes, key=None, **kw) -> httpx.Response:
        access_key_id, secret = key or self.key1
        headers = sign_request("POST", self.url + path, body, access_key_id, secret, **kw)
        return self.http.post(self.url + path, content=body, headers=headers)

    @property
    def http(self) -> httpx.Client:
        if getattr(self, "_http", None) is None:
            self._http = httpx.Client()
        return self._http


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("api") / "workspace")
    store.create_dataset_group("g1")
    store.create_dataset_group("g2")
    app = create_app(store, max_body_bytes=MAX_BODY, key_cache_seconds=0)
    with serve_in_background(app) as url:
        yield Live(store, url)


def error_of(call, *args, **kwargs) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    response = info.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["x-amzn-ErrorType"] == code
    assert response.headers["x-amzn-RequestId"]
    return response.json()["message"]


# -- operations endpoints ----------------------------------------------------------------------------------


def test_health_needs_no_signature(live):
    response = httpx.get(live.url + "/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_metrics_count_requests_by_operation_and_status_with_percentiles(live):
    runtime = live.client("personalize-runtime")
    for _ in range(3):
        error_of(runtime.get_recommendations, campaignArn="arn:recsys:campaign/g1/nope", userId="u1")
    httpx.post(live.url + "/recommendations", content=b"{}")
    text = httpx.get(live.url + "/metrics").text
    samples = [line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#")]
    lines = {name: float(value) for name, value in samples}
    assert lines['recsys_api_requests_total{operation="GetRecommendations",status="404"}'] >= 3
    assert lines['recsys_api_requests_total{operation="GetRecommendations",status="403"}'] >= 1
    for q in ("0.5", "0.9", "0.99"):
        assert 0 < lines[f'recsys_api_request_latency_seconds{{operation="GetRecommendations",quantile="{q}"}}'] < 5
    assert lines['recsys_api_request_duration_seconds_bucket{operation="GetRecommendations",le="+Inf"}'] >= 4
    assert "# TYPE recsys_api_request_duration_seconds histogram" in text


def test_unknown_paths_and_methods_answer_in_aws_shape(live):
    assert_error(httpx.post(live.url + "/nope", content=b"{}"), 404, "UnknownOperationException")
    assert_error(httpx.get(live.url + "/recommendations"), 405, "MethodNotAllowedException")


# -- authentication ----------------------------------------------------------------------------------------


def test_unsigned_request_is_403_missing_token(live):
    body = json.dumps({"campaignArn": "arn:recsys:campaign/g1/c", "userId": "u1"}).encode()
    response = httpx.post(live.url + "/recommendations", content=body, headers={"Content-Type": "application/json"})
    assert assert_error(response, 403, "MissingAuthenticationTokenException") == "Missing Authentication Token"


def test_wrong_secret_and_unknown_key_are_403(live):
    access_key_id, _ = live.key1
    bad = live.client("personalize-runtime", key=(access_key_id, "wrong-secret"))
    status, code, message = error_of(bad.get_recommendations, campaignArn="arn:recsys:campaign/g1/c", userId="u1")
    assert (status, code) == (403, "InvalidSignatureException")
    assert "signature we calculated does not match" in message
    unknown = live.client("personalize-events", key=("RSKNOSUCHKEY00000000", "x"))
    status, code, _ = error_of(unknown.put_events, trackingId="t", sessionId="s",
                               eventList=[{"eventType": "click", "sentAt": 1}])
    assert (status, code) == (403, "UnrecognizedClientException")


def test_expired_signature_is_403(live):
    body = json.dumps({"campaignArn": "arn:recsys:campaign/g1/c", "userId": "u1"}).encode()
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=6)
    message = assert_error(live.signed_post("/recommendations", body, when=old), 403, "InvalidSignatureException")
    assert "Signature expired" in message
    # a small skew is fine: the campaign does not exist, so authentication passed
    recent = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=4)
    assert_error(live.signed_post("/recommendations", body, when=recent), 404, "ResourceNotFoundException")


def test_deleted_key_is_refused(live):
    key = create_key(live.store, ["g1"])
    runtime = live.client("personalize-runtime", key=key)
    assert error_of(runtime.get_recommendations, campaignArn="arn:recsys:campaign/g1/c", userId="u1")[1] == (
        "ResourceNotFoundException")
    delete_key(live.store, key[0])
    assert error_of(runtime.get_recommendations, campaignArn="arn:recsys:campaign/g1/c", userId="u1")[:2] == (
        403, "UnrecognizedClientException")


# -- authorisation: a key of group A never reaches group B ---------------------------------------------------


def test_key_of_one_group_is_denied_on_another_groups_campaign_filter_and_dataset(live):
    runtime = live.client("personalize-runtime", key=live.key1)
    status, code, message = error_of(runtime.get_recommendations, campaignArn="arn:recsys:campaign/g2/main",
                                     userId="u1")
    assert (status, code) == (403, "AccessDeniedException")
    assert "arn:recsys:campaign/g2/main" in message and "g1" in message
    status, code, _ = error_of(runtime.get_recommendations, campaignArn="arn:recsys:campaign/g1/main",
                               filterArn="arn:recsys:filter/g2/f", userId="u1")
    assert (status, code) == (403, "AccessDeniedException")
    status, code, _ = error_of(runtime.get_recommendations, campaignArn="arn:recsys:campaign/g1/main", userId="u1",
                               promotions=[{"name": "p", "percentPromotedItems": 10,
                                            "filterArn": "arn:recsys:filter/g2/f"}])
    assert (status, code) == (403, "AccessDeniedException")
    status, code, _ = error_of(runtime.get_personalized_ranking, campaignArn="arn:recsys:campaign/g2/main",
                               userId="u1", inputList=["a"])
    assert (status, code) == (403, "AccessDeniedException")
    events = live.client("personalize-events", key=live.key1)
    for call, field in ((events.put_items, "items"), (events.put_users, "users")):
        record = {"itemId": "i1"} if field == "items" else {"userId": "u1"}
        dataset = "Items" if field == "items" else "Users"
        status, code, _ = error_of(call, datasetArn=f"arn:recsys:dataset/g2/{dataset}", **{field: [record]})
        assert (status, code) == (403, "AccessDeniedException")


def test_arns_that_are_not_ours_are_404(live):
    runtime = live.client("personalize-runtime", validate=False)
    status, code, _ = error_of(runtime.get_recommendations,
                               campaignArn="arn:aws:personalize:us-east-1:123456789012:campaign/x", userId="u1")
    assert (status, code) == (404, "ResourceNotFoundException")


# -- bad input is 400, never 500 ---------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"{not json", b'{"campaignArn": NaN}', b"[1, 2", b"\xff\xfe\x00",
                                  b"[" * 100_000 + b"]" * 100_000, b'"just a string"', b"[]"])
def test_malformed_json_is_400_invalid_input(live, body):
    if len(body) > MAX_BODY:
        body = b"[" * 20_000 + b"]" * 20_000
    assert_error(live.signed_post("/recommendations", body), 400, "InvalidInputException")


def test_oversized_bodies_are_400_with_or_without_content_length(live):
    big = json.dumps({"campaignArn": "arn:recsys:campaign/g1/c", "userId": "u" * (MAX_BODY + 10)}).encode()
    message = assert_error(live.signed_post("/recommendations", big), 400, "InvalidInputException")
    assert str(MAX_BODY) in message
    # chunked transfer (no Content-Length), unsigned: still 400 from the size check, before authentication
    chunks = (big[i:i + 8192] for i in range(0, len(big), 8192))
    response = httpx.post(live.url + "/recommendations", content=chunks)
    assert_error(response, 400, "InvalidInputException")
    # far past the limit: the server still answers
    huge = b"x" * (MAX_BODY * 40)
    assert_error(httpx.post(live.url + "/events", content=huge), 400, "InvalidInputException")


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"numResults": 0}, "numResults"),
        ({"numResults": 501}, "numResults"),
        ({"numResults": 60, "metadataColumns": {"ITEMS": ["PRICE"]}}, "metadataColumns is given"),
        ({"numResults": "ten"}, "integer"),
        ({"userId": "u" * 257}, "userId"),
        ({"context": {"bad key!": "x"}}, "pattern"),
        ({"filterValues": {f"K{i}": '"v"' for i in range(26)}}, "filterValues"),
        ({"promotions": [{"name": "a", "percentPromotedItems": 10}, {"name": "b", "percentPromotedItems": 10}]},
         "promotions"),
        ({"promotions": [{"name": "-bad", "percentPromotedItems": 101}]}, "2 validation errors"),
        ({"metadataColumns": {"USERS": ["AGE"]}}, "ITEMS"),
    ],
)
def test_get_recommendations_validation_comes_from_the_service_model(live, params, fragment):
    runtime = live.client("personalize-runtime", validate=False)
    request = {"campaignArn": "arn:recsys:campaign/g1/c", "userId": "u1", **params}
    status, code, message = error_of(runtime.get_recommendations, **request)
    assert (status, code) == (400, "InvalidInputException")
    assert fragment in message


def test_put_events_validation(live):
    events = live.client("personalize-events", validate=False)
    event = {"eventType": "click", "sentAt": 1_700_000_000}
    cases = [
        (dict(trackingId="t", sessionId="s", eventList=[event] * 11), "less than or equal to 10"),
        (dict(trackingId="t", sessionId="s", eventList=[]), "greater than or equal to 1"),
        (dict(trackingId="t", eventList=[event]), "sessionId"),
        (dict(trackingId="t", sessionId="s", eventList=[{"eventType": "click"}]), "sentAt"),
        (dict(trackingId="t", sessionId="s", eventList=[{**event, "impression": ["i"] * 26}]), "impression"),
        (dict(trackingId="t", sessionId="s", eventList=[{**event, "properties": "x" * 1025}]), "properties"),
        (dict(trackingId="t", sessionId="s", eventList=[{**event, "recommendationId": "r" * 41}]), "recommendationId"),
    ]
    for request, fragment in cases:
        status, code, message = error_of(events.put_events, **request)
        assert (status, code) == (400, "InvalidInputException"), request
        assert fragment in message, message


def test_personalized_ranking_needs_an_input_list(live):
    runtime = live.client("personalize-runtime", validate=False)
    for input_list in ([], ["i"] * 501):
        status, code, _ = error_of(runtime.get_personalized_ranking, campaignArn="arn:recsys:campaign/g1/c",
                                   userId="u1", inputList=input_list)
        assert (status, code) == (400, "InvalidInputException")


def test_unknown_campaign_is_404(live):
    runtime = live.client("personalize-runtime")
    status, code, message = error_of(runtime.get_recommendations, campaignArn="arn:recsys:campaign/g1/nope",
                                     userId="u1")
    assert (status, code) == (404, "ResourceNotFoundException")
    assert "nope" in message


def test_unknown_tracker_and_dataset_are_404(live):
    events = live.client("personalize-events")
    status, code, _ = error_of(events.put_events, trackingId="no-such-tracker", sessionId="s",
                               eventList=[{"eventType": "click", "sentAt": dt.datetime.now(dt.timezone.utc)}])
    assert (status, code) == (404, "ResourceNotFoundException")
    status, code, _ = error_of(events.put_items, datasetArn="arn:recsys:dataset/g1/Items", items=[{"itemId": "i1"}])
    assert (status, code) == (404, "ResourceNotFoundException")


@settings(max_examples=200, deadline=None)
@given(body=st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["campaignArn", "userId", "numResults", "context", "eventList", "sentAt", "eventType",
                         "promotions", "filterValues", "inputList", "items", "x"]), children, max_size=5),
    max_leaves=20))
def test_validation_never_fails_with_anything_but_invalid_input(body):
    for operation in OPERATIONS.values():
        try:
            validate_request(operation, body)
        except InvalidInput:
            pass


@settings(max_examples=30, deadline=None)
@given(path=st.sampled_from(["/recommendations", "/personalize-ranking", "/events", "/items", "/users"]),
       body=st.one_of(st.binary(max_size=200), st.recursive(
           st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(
               ["campaignArn", "userId", "inputList", "eventList", "trackingId", "sessionId", "datasetArn", "items",
                "users", "numResults", "sentAt", "eventType"]), c, max_size=4), max_leaves=12).map(
           lambda v: json.dumps(v).encode())))
def test_signed_garbage_never_gets_a_500(live, body, path):
    response = live.signed_post(path, body)
    assert response.status_code in (400, 403, 404), response.text
    assert response.headers["x-amzn-ErrorType"]


# -- keys and logs -----------------------------------------------------------------------------------------


def test_keys_are_scoped_to_existing_groups_and_secrets_are_never_listed(live):
    with pytest.raises(NotFoundError):
        create_key(live.store, ["no-such-group"])
    with pytest.raises(ValidationError):
        create_key(live.store, [])
    access_key_id, secret = create_key(live.store, ["g1", "g2", "g1"], description="both")
    listed = {k["accessKeyId"]: k for k in list_keys(live.store)}
    assert listed[access_key_id]["groups"] == ["g1", "g2"]
    assert secret not in json.dumps(list_keys(live.store))
    assert get_key(live.store, access_key_id)["secret"] == secret


def test_access_log_is_one_json_line_per_request_without_secrets(live, caplog):
    caplog.set_level(logging.INFO, logger="recsys.api.access")
    runtime = live.client("personalize-runtime")
    error_of(runtime.get_recommendations, campaignArn="arn:recsys:campaign/g1/nope", userId="u1")
    deadline = time.monotonic() + 2
    while not caplog.records and time.monotonic() < deadline:
        time.sleep(0.01)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "recsys.api.access"]
    assert lines, "no access log line"
    line = lines[-1]
    assert line["operation"] == "GetRecommendations" and line["status"] == 404
    assert line["error"] == "ResourceNotFoundException" and line["accessKeyId"] == live.key1[0]
    assert line["latencyMs"] > 0 and line["requestId"]
    assert live.key1[1] not in caplog.text


def test_cli_keys_create_list_delete(tmp_path):
    from recsys.cli import main

    home = str(tmp_path / "ws")
    Store(home).create_dataset_group("shop")
    runner = CliRunner()
    created = runner.invoke(main, ["--home", home, "keys", "create", "--group", "shop", "--json"])
    assert created.exit_code == 0, created.output
    key = json.loads(created.output)
    assert key["groups"] == ["shop"] and len(key["secretAccessKey"]) == 40
    listed = runner.invoke(main, ["--home", home, "keys", "list"])
    assert key["accessKeyId"] in listed.output and key["secretAccessKey"] not in listed.output
    missing = runner.invoke(main, ["--home", home, "keys", "create", "--group", "nope"])
    assert missing.exit_code != 0 and "nope" in missing.output
    deleted = runner.invoke(main, ["--home", home, "keys", "delete", key["accessKeyId"]])
    assert deleted.exit_code == 0
    assert runner.invoke(main, ["--home", home, "keys", "list", "--json"]).output.strip() == "[]"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("workers", [1, 2])
def test_cli_serve_answers_logs_json_and_stops_on_sigterm(tmp_path, workers):
    home = tmp_path / "ws"
    Store(home).create_dataset_group("shop")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "recsys", "--home", str(home), "serve", "--port", str(port), "--workers", str(workers)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 90  # start-up only; generous for a loaded CI machine
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "timeout"
            time.sleep(0.1)
        assert httpx.post(f"http://127.0.0.1:{port}/events", content=b"{}").status_code == 403
        with httpx.Client() as client:  # keep-alive calls take ~1 ms; 40+ ms would mean Nagle + delayed ACK
            times = []
            for _ in range(9):
                start = time.perf_counter()
                client.get(f"http://127.0.0.1:{port}/health")
                times.append(time.perf_counter() - start)
        assert sorted(times)[4] < 0.035, times
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=20)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so supervisors see the signal
    assert proc.returncode in (0, -signal.SIGTERM), stderr
    assert "Finished server process" in stderr
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    events = [line for line in lines if line["path"] == "/events"]
    assert len(events) == 1 and events[0]["status"] == 403
    assert events[0]["error"] == "MissingAuthenticationTokenException"


# -- a trained model served end to end ---------------------------------------------------------------------

UP = "aws-user-personalization"
NO_EXPLORATION = {"itemExplorationConfig": {"explorationWeight": "0", "explorationItemAgeCutOff": "30"}}


class Served(Live):
    """A workspace with the small demo data set, a trained user-personalization campaign, filters and keys."""

    def __init__(self, store: Store, url: str, campaign: str, cat_filter: str):
        self.store = store
        self.url = url
        self.key1 = create_key(store, ["demo"])
        self.key2 = create_key(store, ["other"])
        self.campaign = campaign
        self.cat_filter = cat_filter
        self.items = {row["ITEM_ID"]: row for row in self._items()}

    def _items(self):
        from recsys.datasets import read_items

        return read_items(self.store, "demo").to_dict("records")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from recsys import campaigns, events, runs, solutions
    from recsys.demo import generate_demo, load_demo, write_demo
    from recsys.filters import create_filter

    home = tmp_path_factory.mktemp("served") / "workspace"
    store = Store(home)
    write_demo(home / "demo-files", generate_demo(seed=7, n_users=300, n_items=150, n_interactions=6000))
    load_demo(store, "demo", home / "demo-files", write_if_missing=False)
    store.create_dataset_group("other")
    solutions.create_solution(store, "demo", "up", UP, params={"random_state": "3"})
    version = runs.create_solution_version(store, "demo", "up", wait=True)
    assert version.status == "ACTIVE", version.failure_reason
    campaign = campaigns.create_campaign(store, "demo", "main", version.arn, campaign_config=NO_EXPLORATION)
    cat_filter = create_filter(store, "demo", "cat", "INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ($CAT)")
    tracker = events.create_event_tracker(store, "demo", "web")
    other_tracker = events.create_event_tracker(store, "other", "other-web")
    with serve_in_background(create_app(store)) as url:
        served = Served(store, url, campaign.arn, cat_filter.arn)
        served.tracking_id = tracker["trackingId"]
        served.other_tracking_id = other_tracker["trackingId"]
        yield served


def ids(items):
    return [item["itemId"] for item in items]


def test_get_recommendations_through_boto3_matches_the_library(served):
    from recsys.serving import get_recommendations

    runtime = served.client("personalize-runtime")
    response = runtime.get_recommendations(campaignArn=served.campaign, userId="u0002", numResults=10)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    items = response["itemList"]
    assert len(items) == 10 and response["recommendationId"]
    assert all(isinstance(i["score"], float) and 0 < i["score"] <= 1 for i in items)
    assert [i["score"] for i in items] == sorted((i["score"] for i in items), reverse=True)
    direct = get_recommendations(served.store, served.campaign, user_id="u0002", num_results=10)
    assert ids(items) == ids(direct["itemList"])


def test_filter_values_metadata_columns_and_context_pass_through(served):
    runtime = served.client("personalize-runtime")
    response = runtime.get_recommendations(
        campaignArn=served.campaign, userId="u0003", numResults=8, filterArn=served.cat_filter,
        filterValues={"CAT": '"books"'}, metadataColumns={"ITEMS": ["CATEGORY_L1", "PRICE"]})
    items = response["itemList"]
    assert len(items) == 8
    for item in items:
        assert "books" in item["metadata"]["CATEGORY_L1"].split("|")
        assert float(item["metadata"]["PRICE"]) > 0
    lists = {device: ids(runtime.get_recommendations(campaignArn=served.campaign, userId="u0003", numResults=25,
                                                       context={"DEVICE": device})["itemList"])
             for device in ("mobile", "desktop")}
    assert lists["mobile"] != lists["desktop"]


def test_promotions_fill_their_share_of_slots_from_the_promotion_filter(served):
    runtime = served.client("personalize-runtime")
    response = runtime.get_recommendations(
        campaignArn=served.campaign, userId="u0004", numResults=10,
        promotions=[{"name": "books-promo", "percentPromotedItems": 30, "filterArn": served.cat_filter,
                     "filterValues": {"CAT": '"books"'}}])
    promoted = [i for i in response["itemList"] if i.get("promotionName") == "books-promo"]
    assert len(promoted) == 3 and len(response["itemList"]) == 10
    for item in promoted:
        assert "books" in served.items[item["itemId"]]["CATEGORY_L1"].split("|")


def test_personalized_ranking_reorders_the_input_list(served):
    runtime = served.client("personalize-runtime")
    input_list = sorted(served.items)[:12] + ["never-seen-item"]
    response = runtime.get_personalized_ranking(campaignArn=served.campaign, userId="u0005", inputList=input_list)
    ranked = ids(response["personalizedRanking"])
    assert sorted(ranked) == sorted(input_list) and ranked[-1] == "never-seen-item"
    scores = [i.get("score", 0.0) for i in response["personalizedRanking"][:-1]]
    assert scores == sorted(scores, reverse=True) and abs(sum(scores) - 1) < 1e-3


def test_unknown_filter_is_404_and_a_missing_user_is_400(served):
    runtime = served.client("personalize-runtime")
    status, code, _ = error_of(runtime.get_recommendations, campaignArn=served.campaign, userId="u1",
                               filterArn="arn:recsys:filter/demo/nope")
    assert (status, code) == (404, "ResourceNotFoundException")
    status, code, message = error_of(runtime.get_recommendations, campaignArn=served.campaign, itemId="i0001")
    assert (status, code) == (400, "InvalidInputException") and "userId" in message


def test_other_groups_key_is_denied_on_a_real_campaign(served):
    runtime = served.client("personalize-runtime", key=served.key2)
    status, code, _ = error_of(runtime.get_recommendations, campaignArn=served.campaign, userId="u0002")
    assert (status, code) == (403, "AccessDeniedException")


def test_aws_cli_get_recommendations(served):
    env = {**os.environ, "AWS_ACCESS_KEY_ID": served.key1[0], "AWS_SECRET_ACCESS_KEY": served.key1[1],
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    aws = str(Path(sys.executable).parent / "aws")
    done = subprocess.run(
        [aws, "personalize-runtime", "get-recommendations", "--endpoint-url", served.url,
         "--campaign-arn", served.campaign, "--user-id", "u0002", "--num-results", "5", "--output", "json"],
        env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert len(answer["itemList"]) == 5 and answer["recommendationId"]


def test_put_events_changes_the_users_next_recommendations(served):
    from recsys.datasets import read_interactions

    runtime = served.client("personalize-runtime")
    events = served.client("personalize-events")
    user = "u0007"
    before = ids(runtime.get_recommendations(campaignArn=served.campaign, userId=user, numResults=25)["itemList"])
    books = sorted(i for i, row in served.items.items() if "books" in str(row["CATEGORY_L1"]).split("|"))
    now = dt.datetime.now(dt.timezone.utc)
    event_list = [{"eventType": "view", "itemId": item, "sentAt": now + dt.timedelta(seconds=k),
                   "eventId": f"{user}-{k}", "properties": json.dumps({"device": "mobile"})}
                  for k, item in enumerate(books[:8])]
    response = events.put_events(trackingId=served.tracking_id, sessionId="s-7", userId=user, eventList=event_list)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    stored = read_interactions(served.store, "demo", user_id=user)
    assert set(books[:8]) <= set(stored["ITEM_ID"])
    after = ids(runtime.get_recommendations(campaignArn=served.campaign, userId=user, numResults=25)["itemList"])
    assert after != before
    share = lambda items: sum("books" in str(served.items[i]["CATEGORY_L1"]) for i in items)  # noqa: E731
    assert share(after) > share(before)


def test_put_events_of_another_groups_tracker_is_denied(served):
    events = served.client("personalize-events", key=served.key1)
    status, code, _ = error_of(events.put_events, trackingId=served.other_tracking_id, sessionId="s",
                               eventList=[{"eventType": "view", "itemId": "i0001", "sentAt": 1_700_000_000}])
    assert (status, code) == (403, "AccessDeniedException")


def test_put_items_and_users_upsert_metadata(served):
    from recsys.datasets import read_items, read_users

    events = served.client("personalize-events")
    item_props = json.dumps({"categoryL1": "books", "categoryL2": "ebooks", "price": 4.5,
                             "creationTimestamp": 1_790_000_000, "productDescription": "a new ebook"})
    events.put_items(datasetArn="arn:recsys:dataset/demo/Items",
                     items=[{"itemId": "i-new-1", "properties": item_props}])
    assert "i-new-1" in set(read_items(served.store, "demo")["ITEM_ID"])
    events.put_users(datasetArn="arn:recsys:dataset/demo/Users", users=[{"userId": "u-new-1", "properties": json.dumps(
        {"ageGroup": "25-34", "membership": "gold", "country": "FR"})}])
    assert "u-new-1" in set(read_users(served.store, "demo")["USER_ID"])
    status, code, _ = error_of(events.put_items, datasetArn="arn:recsys:dataset/demo/Users",
                               items=[{"itemId": "x"}])
    assert (status, code) == (400, "InvalidInputException")
    status, code, message = error_of(events.put_items, datasetArn="arn:recsys:dataset/demo/Items",
                                     items=[{"itemId": "x", "properties": "not json"}])
    assert (status, code) == (400, "InvalidInputException")


def test_cold_model_and_version_switch_under_concurrent_requests(served):
    """Warm requests are answered on the event loop; one that needs a model load goes to a thread; switching the
    campaign to another version while 4 clients keep asking fails no request and is seen at once."""
    import threading

    from recsys import campaigns, runs, solutions
    from recsys.serving.runtime import RUNTIME

    solutions.create_solution(served.store, "demo", "up2", UP, params={"random_state": "5", "l2_scale": "10"})
    version2 = runs.create_solution_version(served.store, "demo", "up2", wait=True)
    RUNTIME.clear()  # everything cold: the next request loads the model off the event loop
    runtime = served.client("personalize-runtime")
    assert runtime.get_recommendations(campaignArn=served.campaign, userId="u0003", numResults=5)["itemList"]
    assert served.client("personalize-runtime").get_recommendations(
        campaignArn=served.campaign, userId="u0004", numResults=5)["itemList"]
    failures, done, stop = [], [0], threading.Event()

    def hammer(k: int) -> None:
        client = served.client("personalize-runtime")
        while not stop.is_set():
            try:
                client.get_recommendations(campaignArn=served.campaign, userId=f"u{k:04d}", numResults=10)
                done[0] += 1
            except Exception as exc:  # noqa: BLE001
                failures.append(exc)

    threads = [threading.Thread(target=hammer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        before = served.store.find_resource(served.campaign)["deployedSolutionVersionArn"]
        campaigns.update_campaign(served.store, "demo", "main", solution_version_arn=version2.arn)
        RUNTIME.evict(served.store, version2.arn)  # as if another process (the CLI) had made the switch
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
        campaigns.update_campaign(served.store, "demo", "main", solution_version_arn=before)
    assert not failures and done[0] > 10
    assert RUNTIME.is_loaded(served.store, version2.arn)  # the switch was seen and served
