"""The control plane (botocore's `personalize` service, JSON 1.1) on a real server, driven by boto3 and raw HTTP."""

from __future__ import annotations

import json
import time
import uuid

import boto3
import httpx
import pytest
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import ClientError

from recsys.api import create_app, create_key
from recsys.api.operations import HANDLERS, NOT_SUPPORTED
from recsys.api.models import service_model
from recsys.api.server import serve_in_background
from recsys.api.sigv4 import sign_request
from recsys.store import Store

ACCOUNT = "arn:aws:personalize:us-east-1:000000000000"
FOREIGN = "arn:aws:personalize:eu-west-1:123456789012"
ROLE = "arn:aws:iam::000000000000:role/PersonalizeS3"
INTERACTIONS_SCHEMA = json.dumps({
    "type": "record", "name": "Interactions", "namespace": "com.amazonaws.personalize.schema", "version": "1.0",
    "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
               {"name": "TIMESTAMP", "type": "long"}]})
ITEMS_SCHEMA = json.dumps({
    "type": "record", "name": "Items", "namespace": "com.amazonaws.personalize.schema", "version": "1.0",
    "fields": [{"name": "ITEM_ID", "type": "string"}, {"name": "GENRE", "type": "string", "categorical": True}]})


class Live:
    def __init__(self, store: Store, url: str, app):
        self.store, self.url, self.app = store, url, app
        self.admin = create_key(store, admin=True)
        store.create_dataset_group("g1")
        store.create_dataset_group("g2")
        self.key1 = create_key(store, ["g1"])

    def client(self, key=None, service: str = "personalize"):
        access_key_id, secret = key or self.admin
        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1", aws_access_key_id=access_key_id,
                            aws_secret_access_key=secret,
                            config=Config(retries={"max_attempts": 1, "mode": "standard"}))

    def raw(self, target: str, body: bytes, key=None) -> httpx.Response:
        access_key_id, secret = key or self.admin
        headers = sign_request("POST", self.url + "/", body, access_key_id, secret,
                               headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"})
        return httpx.post(self.url + "/", content=body, headers=headers)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("control") / "workspace")
    app = create_app(store, key_cache_seconds=0, warm=False)
    with serve_in_background(app) as url:
        yield Live(store, url, app)


def error_of(call, **kwargs) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    response = info.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- dataset groups, errors, ARNs ------------------------------------------------------------------------------


def test_dataset_group_lifecycle_with_aws_errors(live):
    personalize = live.client()
    name = unique("grp")
    arn = personalize.create_dataset_group(name=name, domain="ECOMMERCE")["datasetGroupArn"]
    assert arn == f"{ACCOUNT}:dataset-group/{name}"
    described = personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]
    assert (described["name"], described["status"], described["domain"]) == (name, "ACTIVE", "ECOMMERCE")
    assert name in [g["name"] for g in personalize.list_dataset_groups()["datasetGroups"]]
    assert error_of(personalize.create_dataset_group, name=name)[:2] == (400, "ResourceAlreadyExistsException")
    # an app's hard-coded ARN, from another region and account, names the same group
    assert personalize.describe_dataset_group(datasetGroupArn=f"{FOREIGN}:dataset-group/{name}")[
        "datasetGroup"]["datasetGroupArn"] == arn
    personalize.delete_dataset_group(datasetGroupArn=arn)
    status, code, message = error_of(personalize.describe_dataset_group, datasetGroupArn=arn)
    assert (status, code) == (400, "ResourceNotFoundException") and name in message


def test_errors_carry_type_in_the_json_body(live):
    response = live.raw("AmazonPersonalize.DescribeDatasetGroup",
                        json.dumps({"datasetGroupArn": f"{ACCOUNT}:dataset-group/nope"}).encode())
    assert response.status_code == 400
    assert response.json()["__type"] == "ResourceNotFoundException"
    assert response.headers["content-type"].startswith("application/x-amz-json-1.1")
    unknown = live.raw("AmazonPersonalize.MakeCoffee", b"{}")
    assert (unknown.status_code, unknown.json()["__type"]) == (400, "UnknownOperationException")
    assert "MakeCoffee" in unknown.json()["message"]
    assert live.raw("", b"{}").json()["__type"] == "UnknownOperationException"
    garbled = live.raw("AmazonPersonalize.ListDatasetGroups", b"{not json")
    assert (garbled.status_code, garbled.json()["__type"]) == (400, "SerializationException")
    unsigned = httpx.post(live.url + "/", content=b"{}", headers={"X-Amz-Target": "AmazonPersonalize.ListRecipes"})
    assert unsigned.status_code == 403


def test_group_keys_manage_their_groups_and_only_admin_keys_make_groups_and_schemas(live):
    group_key = live.client(live.key1)
    status, code, message = error_of(group_key.create_dataset_group, name=unique("mine"))
    assert (code, status) == ("AccessDeniedException", 400) and "admin" in message
    assert error_of(group_key.create_schema, name=unique("s"), schema=ITEMS_SCHEMA)[1] == "AccessDeniedException"
    assert error_of(group_key.delete_dataset_group, datasetGroupArn=f"{ACCOUNT}:dataset-group/g1")[1] == \
        "AccessDeniedException"
    assert error_of(group_key.describe_dataset_group, datasetGroupArn=f"{ACCOUNT}:dataset-group/g2")[1] == \
        "AccessDeniedException"
    assert [g["name"] for g in group_key.list_dataset_groups()["datasetGroups"]] == ["g1"]
    filter_arn = group_key.create_filter(name=unique("f"), datasetGroupArn=f"{ACCOUNT}:dataset-group/g1",
                                         filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("buy")'
                                         )["filterArn"]
    assert group_key.describe_filter(filterArn=filter_arn)["filter"]["status"] == "ACTIVE"
    other = live.client().create_filter(name=unique("f"), datasetGroupArn=f"{ACCOUNT}:dataset-group/g2",
                                        filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("x")')
    assert error_of(group_key.describe_filter, filterArn=other["filterArn"])[1] == "AccessDeniedException"
    assert other["filterArn"] not in [f["filterArn"] for f in group_key.list_filters()["Filters"]]
    group_key.delete_filter(filterArn=filter_arn)
    assert error_of(group_key.delete_filter, filterArn=filter_arn)[1] == "ResourceNotFoundException"


def test_schemas_and_datasets(live):
    personalize = live.client()
    group = personalize.create_dataset_group(name=unique("ds"))["datasetGroupArn"]
    schema = personalize.create_schema(name=unique("items"), schema=ITEMS_SCHEMA)["schemaArn"]
    assert json.loads(personalize.describe_schema(schemaArn=schema)["schema"]["schema"])["name"] == "Items"
    status, code, message = error_of(personalize.create_schema, name=unique("bad"), schema='{"type": "record"}')
    assert code == "InvalidInputException"
    assert error_of(personalize.create_dataset, name="x", schemaArn=schema, datasetGroupArn=group,
                    datasetType="Interactions")[1] == "InvalidInputException"
    dataset = personalize.create_dataset(name="items", schemaArn=schema, datasetGroupArn=group,
                                         datasetType="ITEMS")["datasetArn"]
    assert dataset.endswith("/ITEMS")
    described = personalize.describe_dataset(datasetArn=dataset)["dataset"]
    assert (described["datasetType"], described["schemaArn"], described["name"]) == ("ITEMS", schema, "items")
    assert error_of(personalize.create_dataset, name="again", schemaArn=schema, datasetGroupArn=group,
                    datasetType="Items")[1] == "ResourceAlreadyExistsException"
    assert error_of(personalize.delete_schema, schemaArn=schema)[1] == "ResourceInUseException"
    assert error_of(personalize.delete_dataset_group, datasetGroupArn=group)[1] == "ResourceInUseException"
    assert [d["datasetArn"] for d in personalize.list_datasets(datasetGroupArn=group)["datasets"]] == [dataset]
    personalize.delete_dataset(datasetArn=dataset)
    personalize.delete_schema(schemaArn=schema)
    personalize.delete_dataset_group(datasetGroupArn=group)


def test_pagination_as_botocore_paginators_expect(live):
    personalize = live.client()
    names = sorted(unique("page") for _ in range(7))
    for name in names:
        personalize.create_schema(name=name, schema=INTERACTIONS_SCHEMA)
    paginator = personalize.get_paginator("list_schemas")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 3}))
    seen = [s["name"] for p in pages for s in p["schemas"]]
    assert set(names) <= set(seen) and len(seen) == len(set(seen))
    assert all(len(p["schemas"]) <= 3 for p in pages) and "nextToken" not in pages[-1]
    status, code, _ = error_of(personalize.list_schemas, nextToken="garbage")
    assert code == "InvalidNextTokenException"
    token = personalize.list_schemas(maxResults=1)["nextToken"]
    assert error_of(personalize.list_recipes, nextToken=token)[1] == "InvalidNextTokenException"


def test_recipes_algorithms_and_tags(live):
    personalize = live.client()
    recipes = {r["name"]: r for r in personalize.list_recipes()["recipes"]}
    assert {"aws-user-personalization", "aws-sims", "aws-popularity-count", "rating-svd"} <= set(recipes)
    sims = personalize.describe_recipe(recipeArn=recipes["aws-sims"]["recipeArn"])["recipe"]
    assert sims["recipeType"] == "RELATED_ITEMS"
    assert "beyond Amazon Personalize" in personalize.describe_recipe(
        recipeArn="arn:aws:personalize:::recipe/rating-svd")["recipe"]["description"]
    algorithm = personalize.describe_algorithm(algorithmArn=sims["algorithmArn"])["algorithm"]
    assert "popularity_discount_factor" in algorithm["defaultHyperParameters"]
    assert personalize.describe_feature_transformation(
        featureTransformationArn=sims["featureTransformationArn"])["featureTransformation"]["status"] == "ACTIVE"
    assert error_of(personalize.describe_recipe, recipeArn="arn:aws:personalize:::recipe/nope")[1] == \
        "ResourceNotFoundException"
    group = f"{ACCOUNT}:dataset-group/g1"
    personalize.tag_resource(resourceArn=group, tags=[{"tagKey": "team", "tagValue": "growth"},
                                                      {"tagKey": "env", "tagValue": "dev"}])
    personalize.untag_resource(resourceArn=group, tagKeys=["env"])
    assert personalize.list_tags_for_resource(resourceArn=group)["tags"] == [{"tagKey": "team", "tagValue": "growth"}]


# -- every operation of the model ------------------------------------------------------------------------------


def _value(shape, member: str = ""):
    kind = shape.type_name
    if kind == "structure":
        return {name: _value(shape.members[name], name) for name in shape.required_members}
    if kind == "list":
        return [_value(shape.member)] * max(1, shape.metadata.get("min", 0))
    if kind == "map":
        return {}
    if kind in ("integer", "long"):
        return max(1, shape.metadata.get("min", 1))
    if kind in ("float", "double"):
        return 1.0
    if kind == "boolean":
        return False
    if kind == "timestamp":
        return 0
    if shape.enum:
        return shape.enum[0]
    if member.endswith("Arn") or shape.name.endswith("Arn") or shape.name == "Arn":
        return "arn:aws:iam::000000000000:role/x" if "role" in member.lower() else f"{ACCOUNT}:thing/nope"
    if "path" in member.lower() or "location" in member.lower() or "S3" in shape.name:
        return "s3://nope/x"
    return "nope"


def test_every_operation_is_implemented_or_a_clear_400(live):
    personalize = live.client()
    model = service_model("personalize")
    answered = {}
    for name in model.operation_names:
        op = model.operation_model(name)
        params = _value(op.input_shape) if op.input_shape is not None else {}
        try:
            getattr(personalize, xform_name(name))(**params)
            answered[name] = (200, None)
        except ClientError as exc:
            status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
            code, message = exc.response["Error"]["Code"], exc.response["Error"]["Message"]
            answered[name] = (status, code)
            assert status == 400, (name, status, code, message)
            if name in NOT_SUPPORTED:
                assert code == "InvalidInputException" and f"{name} is not supported" in message
            else:
                assert "is not supported" not in message, name
                assert code in {s.name for s in op.error_shapes} | {"InvalidInputException"}, (name, code, message)
    assert len(answered) == len(model.operation_names) == len(HANDLERS) + len(NOT_SUPPORTED)
    assert set(HANDLERS) <= set(model.operation_names) and set(NOT_SUPPORTED) <= set(model.operation_names)
    assert answered["ListRecommenders"] == (200, None) and answered["ListRecipes"] == (200, None)
    assert answered["DescribeCampaign"] == (400, "ResourceNotFoundException")


# -- lone surrogates, everywhere a string is read ---------------------------------------------------------------

RUNTIME_CAMPAIGN = f"{ACCOUNT}:campaign/nope"
SURROGATE_CASES = [
    ("personalize-runtime", "/recommendations", {"campaignArn": RUNTIME_CAMPAIGN, "userId": "\udc80"}),
    ("personalize-runtime", "/recommendations", {"campaignArn": RUNTIME_CAMPAIGN, "itemId": "\udc80"}),
    ("personalize-runtime", "/recommendations", {"campaignArn": RUNTIME_CAMPAIGN + "\udc80", "userId": "u"}),
    ("personalize-runtime", "/recommendations", {"campaignArn": RUNTIME_CAMPAIGN, "userId": "u",
                                                 "context": {"DEVICE": "\udc80"}}),
    ("personalize-runtime", "/recommendations", {"campaignArn": RUNTIME_CAMPAIGN, "userId": "u",
                                                 "filterArn": f"{ACCOUNT}:filter/f", "filterValues": {"X": "\udc80"}}),
    ("personalize-runtime", "/personalize-ranking", {"campaignArn": RUNTIME_CAMPAIGN, "userId": "u",
                                                     "inputList": ["i1", "\udc80"]}),
    ("personalize-events", "/events", {"trackingId": "t", "sessionId": "s", "userId": "\udc80",
                                       "eventList": [{"eventType": "view", "itemId": "i", "sentAt": 1}]}),
    ("personalize-events", "/events", {"trackingId": "t", "sessionId": "s",
                                       "eventList": [{"eventType": "\udc80", "itemId": "i", "sentAt": 1}]}),
    ("personalize-events", "/events", {"trackingId": "t", "sessionId": "s",
                                       "eventList": [{"eventType": "view", "itemId": "\udc80", "sentAt": 1}]}),
    ("personalize-events", "/events", {"trackingId": "t", "sessionId": "s", "eventList": [
        {"eventType": "view", "itemId": "i", "sentAt": 1, "properties": json.dumps({"device": "\udc80"})}]}),
    ("personalize-events", "/events", {"trackingId": "t", "sessionId": "s", "eventList": [
        {"eventType": "view", "itemId": "i", "sentAt": 1, "properties": '{"device": "\udc80"}'}]}),
    ("personalize-events", "/items", {"datasetArn": f"{ACCOUNT}:dataset/g1/ITEMS", "items": [{"itemId": "\udc80"}]}),
    ("personalize-events", "/items", {"datasetArn": f"{ACCOUNT}:dataset/g1/ITEMS", "items": [
        {"itemId": "i", "properties": json.dumps({"genre": "\udc80"})}]}),
    ("personalize-events", "/users", {"datasetArn": f"{ACCOUNT}:dataset/g1/USERS", "users": [{"userId": "\udc80"}]}),
    ("personalize-events", "/users", {"datasetArn": f"{ACCOUNT}:dataset/g1/USERS", "users": [
        {"userId": "u", "properties": json.dumps({"\udc80": "x"})}]}),
]


@pytest.mark.parametrize("service, path, body", SURROGATE_CASES)
def test_a_lone_surrogate_is_invalid_input_never_a_server_error(live, service, path, body):
    raw = json.dumps(body).encode()  # ensure_ascii: the surrogate travels as the escape "\udc80"
    assert b"\\udc80" in raw
    headers = sign_request("POST", live.url + path, raw, *live.key1)
    response = httpx.post(live.url + path, content=raw, headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["x-amzn-ErrorType"] == "InvalidInputException"
    assert "Unicode" in response.json()["message"]


@pytest.mark.parametrize("operation, body", [
    ("CreateDatasetGroup", {"name": "g\udc80"}),
    ("CreateFilter", {"name": "f", "datasetGroupArn": f"{ACCOUNT}:dataset-group/g1",
                      "filterExpression": 'EXCLUDE ItemID WHERE Items.GENRE IN ("\udc80")'}),
    ("DescribeCampaign", {"campaignArn": f"{ACCOUNT}:campaign/\udc80"}),
    ("TagResource", {"resourceArn": f"{ACCOUNT}:dataset-group/g1", "tags": [{"tagKey": "k", "tagValue": "\udc80"}]}),
])
def test_a_lone_surrogate_in_control_plane_strings_is_invalid_input(live, operation, body):
    response = live.raw(f"AmazonPersonalize.{operation}", json.dumps(body).encode())
    assert response.status_code == 400 and response.json()["__type"] == "InvalidInputException", response.text


# -- import jobs run in the background and are polled ----------------------------------------------------------


def wait_for(describe, member: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = describe()[member]
        if found["status"] in ("ACTIVE", "CREATE FAILED"):
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.1)


def test_import_job_from_s3_goes_pending_to_active_and_failures_say_why(live, s3):
    personalize = live.client()
    bucket = unique("bucket")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="items/a.csv", Body=b"ITEM_ID,GENRE\ni1,comedy\ni2,drama\n")
    s3.put_object(Bucket=bucket, Key="items/b.csv", Body=b"ITEM_ID,GENRE\ni3,comedy|drama\n")
    live.store.set_setting("s3.endpoint_url", s3.meta.endpoint_url)
    group = personalize.create_dataset_group(name=unique("imp"))["datasetGroupArn"]
    schema = personalize.create_schema(name=unique("items"), schema=ITEMS_SCHEMA)["schemaArn"]
    dataset = personalize.create_dataset(name="items", schemaArn=schema, datasetGroupArn=group,
                                         datasetType="Items")["datasetArn"]
    role = "arn:aws:iam::000000000000:role/PersonalizeS3"
    job = personalize.create_dataset_import_job(jobName=unique("job"), datasetArn=dataset, roleArn=role,
                                                dataSource={"dataLocation": f"s3://{bucket}/items/"})
    arn = job["datasetImportJobArn"]
    first = personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]
    assert first["status"] in ("CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE")
    done = wait_for(lambda: personalize.describe_dataset_import_job(datasetImportJobArn=arn), "datasetImportJob")
    assert done["status"] == "ACTIVE", done
    assert done["dataSource"] == {"dataLocation": f"s3://{bucket}/items/"} and done["roleArn"] == role
    assert done["importMode"] == "FULL" and done["datasetArn"] == dataset
    from recsys.datasets import read_items

    assert sorted(read_items(live.store, group.rsplit("/", 1)[1])["ITEM_ID"]) == ["i1", "i2", "i3"]
    assert arn in [j["datasetImportJobArn"] for j in
                   personalize.list_dataset_import_jobs(datasetArn=dataset)["datasetImportJobs"]]
    assert error_of(personalize.create_dataset_import_job, jobName=done["jobName"], datasetArn=dataset,
                    roleArn=role, dataSource={"dataLocation": f"s3://{bucket}/items/"})[1] == \
        "ResourceAlreadyExistsException"
    missing = personalize.create_dataset_import_job(jobName=unique("job"), datasetArn=dataset, roleArn=role,
                                                    dataSource={"dataLocation": f"s3://{bucket}/nothing.csv"})
    failed = wait_for(lambda: personalize.describe_dataset_import_job(
        datasetImportJobArn=missing["datasetImportJobArn"]), "datasetImportJob")
    assert failed["status"] == "CREATE FAILED" and "nothing.csv" in failed["failureReason"]
    assert sorted(read_items(live.store, group.rsplit("/", 1)[1])["ITEM_ID"]) == ["i1", "i2", "i3"]


def test_local_data_locations_need_an_admin_key(live, tmp_path):
    group_key = live.client(live.key1)
    status, code, message = error_of(
        group_key.create_dataset_import_job, jobName=unique("j"), datasetArn=f"{ACCOUNT}:dataset/g1/ITEMS",
        dataSource={"dataLocation": "file:///etc/passwd"}, roleArn="arn:aws:iam::000000000000:role/r")
    assert code in ("AccessDeniedException", "ResourceNotFoundException")
    live.client().create_schema(name=unique("g1items"), schema=ITEMS_SCHEMA)
    schema = [s for s in live.client().list_schemas()["schemas"] if s["name"].startswith("g1items")][0]
    dataset = live.client().create_dataset(name="items", schemaArn=schema["schemaArn"],
                                           datasetGroupArn=f"{ACCOUNT}:dataset-group/g1", datasetType="Items")
    for location in ("file:///etc/passwd", "/etc/passwd"):
        status, code, message = error_of(group_key.create_dataset_import_job, jobName=unique("j"),
                                         datasetArn=dataset["datasetArn"], dataSource={"dataLocation": location},
                                         roleArn="arn:aws:iam::000000000000:role/r")
        assert code == "AccessDeniedException" and "admin key" in message
    csv = tmp_path / "items.csv"
    csv.write_text("ITEM_ID,GENRE\ni9,comedy\n")
    job = live.client().create_dataset_import_job(jobName=unique("j"), datasetArn=dataset["datasetArn"],
                                                  dataSource={"dataLocation": str(csv)})
    done = wait_for(lambda: live.client().describe_dataset_import_job(
        datasetImportJobArn=job["datasetImportJobArn"]), "datasetImportJob")
    assert done["status"] == "ACTIVE" and done["dataSource"]["dataLocation"] == str(csv)
    live.client().delete_dataset(datasetArn=dataset["datasetArn"])


def test_cli_makes_admin_keys_and_s3_settings(tmp_path):
    from click.testing import CliRunner

    from recsys.api import get_key
    from recsys.cli import main

    home = tmp_path / "ws"
    runner = CliRunner()
    made = runner.invoke(main, ["--home", str(home), "keys", "create", "--admin", "--json"])
    assert made.exit_code == 0, made.output
    key = json.loads(made.output)
    assert key["admin"] is True and get_key(Store(home), key["accessKeyId"])["admin"] is True
    listed = runner.invoke(main, ["--home", str(home), "keys", "list"])
    assert "admin (whole workspace)" in listed.output
    assert runner.invoke(main, ["--home", str(home), "keys", "create"]).exit_code != 0  # neither --group nor --admin
    assert runner.invoke(main, ["--home", str(home), "config", "set", "s3.secret_access_key", "s3cr3t"]).exit_code == 0
    shown = runner.invoke(main, ["--home", str(home), "config", "get", "--json"])
    settings = json.loads(shown.output)
    assert settings["s3.secret_access_key"] == "****" and settings["region"] == "us-east-1"
    assert Store(home).setting("s3.secret_access_key") == "s3cr3t"
    assert runner.invoke(main, ["--home", str(home), "config", "set", "region", "eu-west-1"]).exit_code != 0


def deletion_done(personalize, arn: str, timeout: float = 60.0) -> dict:
    """Poll a data deletion job (its statuses are PENDING, IN_PROGRESS, COMPLETED, FAILED) until it ends."""
    deadline = time.monotonic() + timeout
    while (found := personalize.describe_data_deletion_job(dataDeletionJobArn=arn)["dataDeletionJob"])[
            "status"] not in ("COMPLETED", "FAILED"):
        assert found["status"] in ("PENDING", "IN_PROGRESS") and time.monotonic() < deadline, found
        time.sleep(0.1)
    return found


def test_dataset_export_and_data_deletion_jobs_through_s3(live, s3):
    from recsys.datasets import read_interactions
    from recsys.events import create_event_tracker, put_events

    personalize = live.client()
    bucket = unique("bucket")
    s3.create_bucket(Bucket=bucket)
    live.store.set_setting("s3.endpoint_url", s3.meta.endpoint_url)
    name = unique("exp")
    group = personalize.create_dataset_group(name=name)["datasetGroupArn"]
    schema = personalize.create_schema(name=unique("inter"), schema=INTERACTIONS_SCHEMA)["schemaArn"]
    dataset = personalize.create_dataset(name="inter", schemaArn=schema, datasetGroupArn=group,
                                         datasetType="Interactions")["datasetArn"]
    rows = "".join(f"u{u},i{i},{1_700_000_000 + u * 10 + i}\n" for u in range(1, 4) for i in range(1, 3))
    s3.put_object(Bucket=bucket, Key="in/inter.csv", Body=("USER_ID,ITEM_ID,TIMESTAMP\n" + rows).encode())
    job = personalize.create_dataset_import_job(jobName=unique("imp"), datasetArn=dataset, roleArn=ROLE,
                                                dataSource={"dataLocation": f"s3://{bucket}/in/inter.csv"})
    assert wait_for(lambda: personalize.describe_dataset_import_job(
        datasetImportJobArn=job["datasetImportJobArn"]), "datasetImportJob")["status"] == "ACTIVE"
    tracker = create_event_tracker(live.store, name, "t")
    put_events(live.store, tracker["trackingId"], "s-9", "u9", [{"eventType": "view", "itemId": "i7",
                                                                "sentAt": 1_700_000_500}])
    # export only the streamed rows (ingestionMode PUT), then everything
    for mode, expected in (("PUT", {("u9", "i7")}), ("ALL", {("u9", "i7")} | {(f"u{u}", f"i{i}") for u in range(1, 4)
                                                                              for i in range(1, 3)})):
        export = personalize.create_dataset_export_job(
            jobName=unique("export"), datasetArn=dataset, ingestionMode=mode, roleArn=ROLE,
            jobOutput={"s3DataDestination": {"path": f"s3://{bucket}/out/{mode}/"}})["datasetExportJobArn"]
        done = wait_for(lambda: personalize.describe_dataset_export_job(datasetExportJobArn=export),
                        "datasetExportJob")
        assert done["status"] == "ACTIVE" and done["ingestionMode"] == mode, done
        key = f"out/{mode}/{done['jobName']}.csv"
        lines = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
        assert lines[0].split(",")[:3] == ["USER_ID", "ITEM_ID", "TIMESTAMP"]
        assert {tuple(line.split(",")[:2]) for line in lines[1:]} == expected
    assert len(personalize.list_dataset_export_jobs(datasetArn=dataset)["datasetExportJobs"]) == 2
    # delete two users: their interactions go, the others stay
    s3.put_object(Bucket=bucket, Key="delete/users.csv", Body=b"USER_ID\nu1\nu9\n")
    deletion = personalize.create_data_deletion_job(jobName=unique("del"), datasetGroupArn=group, roleArn=ROLE,
                                                    dataSource={"dataLocation": f"s3://{bucket}/delete/users.csv"}
                                                    )["dataDeletionJobArn"]
    found = deletion_done(personalize, deletion)
    assert found["status"] == "COMPLETED" and found["numDeleted"] == 3, found
    assert sorted(set(read_interactions(live.store, name)["USER_ID"])) == ["u2", "u3"]
    assert [j["dataDeletionJobArn"] for j in personalize.list_data_deletion_jobs(
        datasetGroupArn=group)["dataDeletionJobs"]] == [deletion]
    again = personalize.create_data_deletion_job(jobName=unique("del"), datasetGroupArn=group, roleArn=ROLE,
                                                 dataSource={"dataLocation": f"s3://{bucket}/in/inter.csv"}
                                                 )["dataDeletionJobArn"]
    found = deletion_done(personalize, again)
    assert found["status"] == "COMPLETED" and found["numDeleted"] == 4  # u2 and u3 were listed in inter.csv too
    assert read_interactions(live.store, name).empty
