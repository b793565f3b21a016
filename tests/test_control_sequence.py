"""Personalize's getting-started sequence, unchanged but for endpoint_url and credentials, against a real server on
loopback: once through boto3, once through the AWS CLI. Data sits in S3 (moto's server, a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import boto3
import pytest
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import ClientError

from recsys.api import create_app, create_key
from recsys.api.server import serve_in_background
from recsys.store import Store

pytestmark = pytest.mark.slow

ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"


class Boto3:
    """Calls through boto3 clients, as a notebook makes them."""

    poll = 0.2

    def __init__(self, url: str, key: tuple[str, str]):
        self.clients = {}
        self.url, self.key = url, key

    def __call__(self, service: str, operation: str, **params) -> dict:
        if service not in self.clients:
            self.clients[service] = boto3.client(
                service, endpoint_url=self.url, region_name="us-east-1", aws_access_key_id=self.key[0],
                aws_secret_access_key=self.key[1], config=Config(retries={"max_attempts": 1, "mode": "standard"}))
        response = getattr(self.clients[service], xform_name(operation))(**params)
        response.pop("ResponseMetadata", None)
        return response


class AwsCli:
    """Calls through the AWS CLI (`aws personalize ... --endpoint-url`), one subprocess each."""

    poll = 1.5

    def __init__(self, url: str, key: tuple[str, str]):
        self.url = url
        self.aws = [sys.executable, "-m", "awscli"]
        self.env = {**os.environ, "AWS_ACCESS_KEY_ID": key[0], "AWS_SECRET_ACCESS_KEY": key[1],
                    "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
                    "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_MAX_ATTEMPTS": "1"}

    def __call__(self, service: str, operation: str, **params) -> dict:
        command = [*self.aws, service, xform_name(operation, "-"), "--endpoint-url", self.url, "--output", "json",
                   "--cli-input-json", json.dumps(params)]
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise AssertionError(f"aws {service} {xform_name(operation, '-')} failed: {done.stderr}")
        return json.loads(done.stdout) if done.stdout.strip() else {}


def wait_active(call, operation: str, member: str, timeout: float = 180.0, **params) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = call("personalize", operation, **params)[member]
        assert found["status"] != "CREATE FAILED", found
        if found["status"] == "ACTIVE":
            return found
        assert time.monotonic() < deadline, found
        time.sleep(call.poll)


@pytest.fixture(scope="module")
def world(tmp_path_factory, s3_endpoint):
    from recsys.demo import generate_demo, write_demo

    home = tmp_path_factory.mktemp("sequence")
    files = write_demo(home / "files", generate_demo(seed=7, n_users=200, n_items=100, n_interactions=3000))
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    bucket = f"personalize-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    for dataset_type in ("Interactions", "Items", "Users"):
        s3.upload_file(str(files[dataset_type]), bucket, f"data/{files[dataset_type].name}")
    lines = "".join(json.dumps({"userId": f"u{i:04d}"}) + "\n" for i in range(1, 21))
    s3.put_object(Bucket=bucket, Key="batch/in/users.json", Body=lines.encode())
    store = Store(home / "workspace")
    for key, value in {"s3.endpoint_url": s3_endpoint, "s3.access_key_id": "testing",
                       "s3.secret_access_key": "testing", "s3.region": "us-east-1"}.items():
        store.set_setting(key, value)
    with serve_in_background(create_app(store, warm=False)) as url:
        yield {"store": store, "url": url, "s3": s3, "bucket": bucket, "files": files,
               "admin": create_key(store, admin=True)}


def getting_started(call, world, prefix: str) -> None:
    """The sequence of Personalize's getting-started notebook, step by step."""
    bucket, files = world["bucket"], world["files"]
    # 1. dataset group, schemas, datasets, import jobs from s3://
    group = call("personalize", "CreateDatasetGroup", name=f"{prefix}-shop")["datasetGroupArn"]
    datasets = {}
    for dataset_type in ("Interactions", "Items", "Users"):
        schema = call("personalize", "CreateSchema", name=f"{prefix}-{dataset_type.lower()}",
                      schema=files["schemas"][dataset_type].read_text())["schemaArn"]
        datasets[dataset_type] = call("personalize", "CreateDataset", name=f"{prefix}-{dataset_type.lower()}",
                                      schemaArn=schema, datasetGroupArn=group, datasetType=dataset_type)["datasetArn"]
        job = call("personalize", "CreateDatasetImportJob", jobName=f"{prefix}-import-{dataset_type.lower()}",
                   datasetArn=datasets[dataset_type], roleArn=ROLE,
                   dataSource={"dataLocation": f"s3://{bucket}/data/{files[dataset_type].name}"})
        # 2. wait for ACTIVE
        wait_active(call, "DescribeDatasetImportJob", "datasetImportJob",
                    datasetImportJobArn=job["datasetImportJobArn"])
    # 3. solution and version
    recipes = [r["recipeArn"] for r in call("personalize", "ListRecipes")["recipes"]]
    recipe = "arn:aws:personalize:::recipe/aws-user-personalization"
    assert recipe in recipes
    solution = call("personalize", "CreateSolution", name=f"{prefix}-up", datasetGroupArn=group, recipeArn=recipe,
                    solutionConfig={"algorithmHyperParameters": {"random_state": "3"}})["solutionArn"]
    version = call("personalize", "CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
    assert call("personalize", "DescribeSolutionVersion", solutionVersionArn=version)["solutionVersion"]["status"] \
        in ("CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE")
    trained = wait_active(call, "DescribeSolutionVersion", "solutionVersion", solutionVersionArn=version)
    assert trained["solutionArn"] == solution and trained["trainingMode"] == "FULL"
    # 4. metrics with Personalize's keys
    metrics = call("personalize", "GetSolutionMetrics", solutionVersionArn=version)["metrics"]
    assert {"coverage", "mean_reciprocal_rank_at_25", "normalized_discounted_cumulative_gain_at_10",
            "precision_at_5"} <= set(metrics)
    # 5. campaign
    campaign = call("personalize", "CreateCampaign", name=f"{prefix}-campaign", solutionVersionArn=version,
                    minProvisionedTPS=1)["campaignArn"]
    wait_active(call, "DescribeCampaign", "campaign", campaignArn=campaign)
    call("personalize", "UpdateCampaign", campaignArn=campaign, minProvisionedTPS=2,
         campaignConfig={"itemExplorationConfig": {"explorationWeight": "0.1", "explorationItemAgeCutOff": "20"}})
    updated = wait_active(call, "DescribeCampaign", "campaign", campaignArn=campaign)
    assert updated["minProvisionedTPS"] == 2 and updated["latestCampaignUpdate"]["minProvisionedTPS"] == 2
    assert updated["campaignConfig"]["itemExplorationConfig"]["explorationWeight"] == "0.1"
    # 6. recommendations with the returned ARN, a tracker, events, a filter
    first = call("personalize-runtime", "GetRecommendations", campaignArn=campaign, userId="u0002", numResults=10)
    assert len(first["itemList"]) == 10 and first["recommendationId"]
    tracker = call("personalize", "CreateEventTracker", name=f"{prefix}-tracker", datasetGroupArn=group)
    wait_active(call, "DescribeEventTracker", "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])
    call("personalize-events", "PutEvents", trackingId=tracker["trackingId"], userId="u0002", sessionId="s-1",
         eventList=[{"eventType": "purchase", "itemId": first["itemList"][0]["itemId"],
                     "sentAt": int(time.time()), "properties": json.dumps({"device": "mobile"})}])
    flt = call("personalize", "CreateFilter", name=f"{prefix}-no-purchased", datasetGroupArn=group,
               filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")')["filterArn"]
    wait_active(call, "DescribeFilter", "filter", filterArn=flt)
    filtered = call("personalize-runtime", "GetRecommendations", campaignArn=campaign, userId="u0002",
                    numResults=10, filterArn=flt)
    assert first["itemList"][0]["itemId"] not in [i["itemId"] for i in filtered["itemList"]]
    # 7. batch inference from s3:// to s3://
    job = call("personalize", "CreateBatchInferenceJob", jobName=f"{prefix}-batch", solutionVersionArn=version,
               numResults=5, roleArn=ROLE, jobInput={"s3DataSource": {"path": f"s3://{bucket}/batch/in/users.json"}},
               jobOutput={"s3DataDestination": {"path": f"s3://{bucket}/batch/{prefix}/"}})["batchInferenceJobArn"]
    done = wait_active(call, "DescribeBatchInferenceJob", "batchInferenceJob", batchInferenceJobArn=job)
    assert done["jobOutput"] == {"s3DataDestination": {"path": f"s3://{bucket}/batch/{prefix}/"}}
    body = world["s3"].get_object(Bucket=bucket, Key=f"batch/{prefix}/users.json.out")["Body"].read().decode()
    results = [json.loads(line) for line in body.splitlines()]
    assert len(results) == 20 and all(len(r["output"]["recommendedItems"]) == 5 and r["error"] is None
                                      for r in results)
    # 8. delete everything, in the order Personalize requires
    call("personalize", "DeleteCampaign", campaignArn=campaign)
    call("personalize", "DeleteSolution", solutionArn=solution)
    call("personalize", "DeleteEventTracker", eventTrackerArn=tracker["eventTrackerArn"])
    call("personalize", "DeleteFilter", filterArn=flt)
    for dataset_type, dataset in datasets.items():
        call("personalize", "DeleteDataset", datasetArn=dataset)
        call("personalize", "DeleteSchema", schemaArn=dataset.replace(f"dataset/{prefix}-shop/{dataset_type.upper()}",
                                                                      f"schema/{prefix}-{dataset_type.lower()}"))
    call("personalize", "DeleteDatasetGroup", datasetGroupArn=group)
    assert group not in [g["datasetGroupArn"] for g in call("personalize", "ListDatasetGroups")["datasetGroups"]]


def test_getting_started_through_boto3(world):
    getting_started(Boto3(world["url"], world["admin"]), world, "boto")


def test_getting_started_through_the_aws_cli(world):
    getting_started(AwsCli(world["url"], world["admin"]), world, "cli")


def test_a_group_key_serves_with_the_arn_its_app_hard_codes(world):
    """A key scoped to the group can do everything but create or delete the group itself."""
    admin = Boto3(world["url"], world["admin"])
    group = admin("personalize", "CreateDatasetGroup", name="keyed")["datasetGroupArn"]
    key = create_key(world["store"], ["keyed"])
    scoped = Boto3(world["url"], key)
    tracker = scoped("personalize", "CreateEventTracker", name="keyed-tracker", datasetGroupArn=group)
    with pytest.raises(ClientError, match="LimitExceededException"):
        scoped("personalize", "CreateEventTracker", name="keyed-tracker-2", datasetGroupArn=group)
    foreign = tracker["eventTrackerArn"].replace("us-east-1:000000000000", "eu-west-1:123456789012")
    assert scoped("personalize", "DescribeEventTracker", eventTrackerArn=foreign)["eventTracker"]["name"] == \
        "keyed-tracker"
    with pytest.raises(ClientError, match="AccessDenied"):
        scoped("personalize", "DeleteDatasetGroup", datasetGroupArn=group)
    scoped("personalize", "DeleteEventTracker", eventTrackerArn=foreign)
    for dataset in scoped("personalize", "ListDatasets", datasetGroupArn=group)["datasets"]:  # the tracker's
        scoped("personalize", "DeleteDataset", datasetArn=dataset["datasetArn"])
    admin("personalize", "DeleteDatasetGroup", datasetGroupArn=group)


def test_automl_picks_a_recipe_in_the_background_from_a_file_url(world):
    call = Boto3(world["url"], world["admin"])
    files = world["files"]
    group = call("personalize", "CreateDatasetGroup", name="automl")["datasetGroupArn"]
    schema = call("personalize", "CreateSchema", name="automl-interactions",
                  schema=files["schemas"]["Interactions"].read_text())["schemaArn"]
    dataset = call("personalize", "CreateDataset", name="automl-interactions", schemaArn=schema,
                   datasetGroupArn=group, datasetType="Interactions")["datasetArn"]
    job = call("personalize", "CreateDatasetImportJob", jobName="automl-import", datasetArn=dataset,
               dataSource={"dataLocation": files["Interactions"].as_uri()}, importMode="FULL")
    wait_active(call, "DescribeDatasetImportJob", "datasetImportJob", datasetImportJobArn=job["datasetImportJobArn"])
    candidates = ["arn:aws:personalize:::recipe/aws-popularity-count", "arn:aws:personalize:::recipe/aws-trending-now"]
    solution = call("personalize", "CreateSolution", name="automl-best", datasetGroupArn=group, performAutoML=True,
                    solutionConfig={"autoMLConfig": {"recipeList": candidates}})["solutionArn"]
    found = wait_active(call, "DescribeSolution", "solution", solutionArn=solution)
    assert found["performAutoML"] and found["autoMLResult"]["bestRecipeArn"] in candidates
    assert found["recipeArn"] == found["autoMLResult"]["bestRecipeArn"]
    versions = call("personalize", "ListSolutionVersions", solutionArn=solution)["solutionVersions"]
    assert len(versions) == 1
    wait_active(call, "DescribeSolutionVersion", "solutionVersion",
                solutionVersionArn=versions[0]["solutionVersionArn"])


def test_batch_segment_job_and_stopping_a_training(world):
    call = Boto3(world["url"], world["admin"])
    files, bucket = world["files"], world["bucket"]
    group = call("personalize", "CreateDatasetGroup", name="segments")["datasetGroupArn"]
    for dataset_type in ("Interactions", "Items"):
        schema = call("personalize", "CreateSchema", name=f"segments-{dataset_type.lower()}",
                      schema=files["schemas"][dataset_type].read_text())["schemaArn"]
        dataset = call("personalize", "CreateDataset", name=f"segments-{dataset_type.lower()}", schemaArn=schema,
                       datasetGroupArn=group, datasetType=dataset_type)["datasetArn"]
        job = call("personalize", "CreateDatasetImportJob", jobName=f"segments-{dataset_type.lower()}",
                   datasetArn=dataset, dataSource={"dataLocation": f"s3://{bucket}/data/{files[dataset_type].name}"})
        wait_active(call, "DescribeDatasetImportJob", "datasetImportJob",
                    datasetImportJobArn=job["datasetImportJobArn"])
    solution = call("personalize", "CreateSolution", name="segments-affinity", datasetGroupArn=group,
                    recipeArn="arn:aws:personalize:::recipe/aws-item-affinity")["solutionArn"]
    version = call("personalize", "CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
    stopped = call("personalize", "CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
    call("personalize", "StopSolutionVersionCreation", solutionVersionArn=stopped)
    wait_active(call, "DescribeSolutionVersion", "solutionVersion", solutionVersionArn=version)
    deadline = time.monotonic() + 60
    while (status := call("personalize", "DescribeSolutionVersion", solutionVersionArn=stopped)[
            "solutionVersion"]["status"]) != "CREATE STOPPED":
        assert status in ("CREATE PENDING", "CREATE IN_PROGRESS", "CREATE STOPPING") and time.monotonic() < deadline
        time.sleep(0.2)
    world["s3"].put_object(Bucket=bucket, Key="segments/in/items.json",
                           Body=b'{"itemId": "i0001"}\n{"itemId": "i0002"}\n')
    job = call("personalize", "CreateBatchSegmentJob", jobName="segments-job", solutionVersionArn=version,
               numResults=7, roleArn=ROLE, jobInput={"s3DataSource": {"path": f"s3://{bucket}/segments/in/items.json"}},
               jobOutput={"s3DataDestination": {"path": f"s3://{bucket}/segments/out/"}})["batchSegmentJobArn"]
    done = wait_active(call, "DescribeBatchSegmentJob", "batchSegmentJob", batchSegmentJobArn=job)
    assert done["numResults"] == 7
    assert job in [j["batchSegmentJobArn"] for j in call("personalize", "ListBatchSegmentJobs",
                                                         solutionVersionArn=version)["batchSegmentJobs"]]
    body = world["s3"].get_object(Bucket=bucket, Key="segments/out/items.json.out")["Body"].read().decode()
    lines = [json.loads(line) for line in body.splitlines()]
    assert [line["input"]["itemId"] for line in lines] == ["i0001", "i0002"]
    assert all(len(line["output"]["recommendedUsers"]) == 7 for line in lines)
