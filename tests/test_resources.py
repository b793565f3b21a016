"""ARNs (format, parse, any region/account, the old shape), typed resources at the API edge, and the store
migration that moves existing workspaces to AWS-shaped ARNs."""

from __future__ import annotations

import json
import os
import stat

import pytest
import sqlite_utils

from recsys.exceptions import ConflictError, NotFoundError, ValidationError
from recsys.resources import Arn, Campaign, Filter, SolutionVersion, camel_to_snake
from recsys.store import Store, migrations

ACCOUNT = "arn:aws:personalize:us-east-1:000000000000"


@pytest.mark.parametrize("text, resource_type, name, group", [
    (f"{ACCOUNT}:campaign/main", "campaign", "main", None),
    (f"{ACCOUNT}:solution/up/6b0f4a96c229", "solution-version", "up/6b0f4a96c229", None),
    (f"{ACCOUNT}:solution/up", "solution", "up", None),
    (f"{ACCOUNT}:dataset/shop/INTERACTIONS", "dataset", "Interactions", "shop"),
    (f"{ACCOUNT}:dataset-group/shop", "dataset-group", "shop", None),
    (f"{ACCOUNT}:batch-inference-job/nightly", "batch-inference-job", "nightly", None),
    ("arn:aws:personalize:::recipe/aws-sims", "recipe", "aws-sims", None),
])
def test_aws_arns_round_trip(text, resource_type, name, group):
    arn = Arn.parse(text)
    assert (arn.resource_type, arn.name, arn.group, arn.legacy) == (resource_type, name, group, False)
    assert str(arn) == text
    assert str(Arn.of(resource_type, name, group)) == text or resource_type == "recipe"


def test_any_region_and_account_parse_to_the_same_resource():
    foreign = Arn.parse("arn:aws-cn:personalize:cn-north-1:123456789012:campaign/main")
    assert (foreign.resource_type, foreign.name) == ("campaign", "main")
    assert str(foreign.at("us-east-1", "000000000000")) == f"{ACCOUNT}:campaign/main"


@pytest.mark.parametrize("text, resource_type, name, group", [
    ("arn:recsys:campaign/shop/main", "campaign", "main", "shop"),
    ("arn:recsys:solution/shop/up/abc", "solution-version", "up/abc", "shop"),
    ("arn:recsys:dataset/shop/Items", "dataset", "Items", "shop"),
    ("arn:recsys:recipe/aws-sims", "recipe", "aws-sims", None),
])
def test_the_first_releases_arns_still_parse(text, resource_type, name, group):
    arn = Arn.parse(text)
    assert (arn.resource_type, arn.name, arn.group, arn.legacy) == (resource_type, name, group, True)
    assert str(arn) == text


@pytest.mark.parametrize("text", ["", "campaign/main", "arn:aws:s3:::bucket/key", f"{ACCOUNT}:campaign/a/b",
                                  f"{ACCOUNT}:dataset/shop/EVENTS", f"{ACCOUNT}:campaign/", 42])
def test_what_is_not_an_arn_is_a_validation_error(text):
    with pytest.raises(ValidationError):
        Arn.parse(text)


def test_camel_case_only_at_the_edge():
    assert camel_to_snake("datasetGroupArn") == "dataset_group_arn"
    assert camel_to_snake("performHPO") == "perform_hpo"
    assert camel_to_snake("minProvisionedTPS") == "min_provisioned_tps"
    assert camel_to_snake("tunedHPOParams") == "tuned_hpo_params"
    campaign = Campaign(arn=f"{ACCOUNT}:campaign/c", name="c", solution_version_arn=f"{ACCOUNT}:solution/s/1",
                        status="ACTIVE", created_at=1.0, updated_at=2.0, min_provisioned_tps=3,
                        campaign_config={"itemExplorationConfig": {"explorationWeight": "0.3"}})
    api = campaign.to_api()
    assert api == {"name": "c", "campaignArn": f"{ACCOUNT}:campaign/c", "solutionVersionArn": f"{ACCOUNT}:solution/s/1",
                   "minProvisionedTPS": 3, "campaignConfig": {"itemExplorationConfig": {"explorationWeight": "0.3"}},
                   "status": "ACTIVE", "creationDateTime": 1.0, "lastUpdatedDateTime": 2.0}
    assert set(campaign.to_summary()) == {"name", "campaignArn", "status", "creationDateTime", "lastUpdatedDateTime"}
    with pytest.raises(AttributeError):
        campaign.name = "other"  # frozen


def test_typed_resources_from_stored_records(store):
    from recsys.filters import create_filter

    store.create_dataset_group("shop")
    record = create_filter(store, "shop", "cheap", 'INCLUDE ItemID WHERE Items.PRICE < 10')
    typed = Filter.from_record(store.find_resource(record.arn), store)
    assert typed.filter_expression == "INCLUDE ItemID WHERE Items.PRICE < 10"
    assert typed.to_api()["datasetGroupArn"] == f"{ACCOUNT}:dataset-group/shop"
    version = SolutionVersion.from_record({"arn": f"{ACCOUNT}:solution/up/1", "name": "up/1", "solution": "up",
                                           "group": "shop", "status": "ACTIVE", "training_seconds": 7200,
                                           "recipe": "aws-sims", "hpo": {"best_params": {"k": 3}}}, store)
    api = version.to_api()
    assert api["solutionArn"] == f"{ACCOUNT}:solution/up" and api["trainingHours"] == 2.0
    assert api["recipeArn"] == "arn:aws:personalize:::recipe/aws-sims"
    assert api["tunedHPOParams"] == {"algorithmHyperParameters": {"k": "3"}}


def test_names_are_unique_per_workspace_and_type(store):
    store.create_dataset_group("a")
    store.create_dataset_group("b")
    store.create_resource("filter", "a", "top", {"filterExpression": "x"})
    with pytest.raises(ConflictError, match="dataset group 'a'.*unique per workspace"):
        store.create_resource("filter", "b", "top", {"filterExpression": "x"})
    store.create_resource("campaign", "b", "top", {})  # another type may reuse the name
    store.create_resource("dataset", "b", "Items", {})
    store.create_resource("dataset", "a", "Items", {})  # datasets are per group, as their ARNs say


def test_arns_resolve_with_any_region_account_or_the_old_shape(store):
    store.create_dataset_group("shop")
    created = store.create_resource("campaign", "shop", "main", {})
    assert created["arn"] == f"{ACCOUNT}:campaign/main"
    for spelling in ("arn:aws:personalize:eu-west-1:123456789012:campaign/main", "arn:recsys:campaign/shop/main"):
        assert store.find_resource(spelling)["arn"] == created["arn"]
    with pytest.raises(NotFoundError):
        store.find_resource("arn:recsys:campaign/other-group/main")  # the old shape names its group
    assert store.find_dataset_group("arn:aws:personalize:ap-south-1:1:dataset-group/shop")["name"] == "shop"


def test_region_and_account_come_from_the_environment_when_the_workspace_is_made(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_REGION", "eu-west-1")
    monkeypatch.setenv("RECSYS_ACCOUNT_ID", "123456789012")
    store = Store(tmp_path / "w")
    store.create_dataset_group("shop")
    assert store.get_dataset_group("shop")["arn"] == "arn:aws:personalize:eu-west-1:123456789012:dataset-group/shop"
    with pytest.raises(ValidationError, match="fixed"):
        store.set_setting("region", "us-west-2")
    monkeypatch.setenv("RECSYS_REGION", "mars")
    with pytest.raises(ValidationError, match="region"):
        Store(tmp_path / "w2")


def test_the_database_is_private_to_its_owner(tmp_path):
    store = Store(tmp_path / "w")
    store.create_dataset_group("g")
    for name in ("recsys.db", "recsys.db-wal"):
        path = store.home / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
    os.chmod(store.db_path, 0o644)  # a workspace made by an older release
    Store(tmp_path / "w")
    assert stat.S_IMODE(store.db_path.stat().st_mode) == 0o600


def _old_workspace(home) -> None:
    """A workspace as the first releases left it: only the first migration, `arn:recsys:` ARNs, and names
    reused across groups."""
    home.mkdir(parents=True)
    db = sqlite_utils.Database(home / "recsys.db")
    migrations.apply(db, stop_before="m002_aws_arns")
    rows = [
        ("dataset-group", "shop"), ("dataset-group", "blog"),
    ]
    for _, name in rows:
        db.execute("INSERT INTO dataset_groups (name, domain, arn, created_at) VALUES (?, NULL, ?, 1)",
                   [name, f"arn:recsys:dataset-group/{name}/{name}"])

    def resource(rtype, group, name, body, arn=None):
        db.execute("INSERT INTO resources (type, group_name, name, arn, status, created_at, updated_at, body) "
                   "VALUES (?, ?, ?, ?, 'ACTIVE', 1, 1, ?)",
                   [rtype, group, name, arn or f"arn:recsys:{rtype}/{group}/{name}", json.dumps(body)])

    for group in ("shop", "blog"):
        resource("solution", group, "up", {"recipe": "aws-sims", "recipe_arn": "arn:recsys:recipe/aws-sims",
                                           "dataset_group_arn": f"arn:recsys:dataset-group/{group}/{group}"})
        resource("solution-version", group, "up/v1", {"solution": "up", "solution_arn": f"arn:recsys:solution/{group}/up",
                                                       "artifact": f"models/{group}/up/v1"},
                 arn=f"arn:recsys:solution/{group}/up/v1")
        resource("campaign", group, "main", {"solutionVersionArn": f"arn:recsys:solution/{group}/up/$LATEST",
                                             "campaignArn": f"arn:recsys:campaign/{group}/main"})
        resource("dataset", group, "Interactions", {"datasetType": "Interactions"})
        (home / "artifacts" / "models" / group / "up" / "v1").mkdir(parents=True)
    db.close()


def test_an_old_workspace_migrates_and_its_old_arns_keep_resolving(tmp_path):
    home = tmp_path / "old"
    _old_workspace(home)
    store = Store(home)
    shop, blog = store.get_resource("campaign", "shop", "main"), store.get_resource("campaign", "blog", "main-blog")
    assert shop["arn"] == f"{ACCOUNT}:campaign/main" and blog["arn"] == f"{ACCOUNT}:campaign/main-blog"
    # the oldest keeps its name, the other is renamed, and both old ARNs still find their resource
    assert store.find_resource("arn:recsys:campaign/blog/main")["arn"] == blog["arn"]
    assert store.find_resource("arn:recsys:campaign/shop/main")["arn"] == shop["arn"]
    # references inside bodies follow, $LATEST forms included
    assert blog["solutionVersionArn"] == f"{ACCOUNT}:solution/up-blog/$LATEST"
    assert blog["campaignArn"] == blog["arn"]
    version = store.find_resource("arn:recsys:solution/blog/up/v1")
    assert version["name"] == "up-blog/v1" and version["solution"] == "up-blog"
    assert version["arn"] == f"{ACCOUNT}:solution/up-blog/v1" and version["artifact"] == "models/blog/up-blog/v1"
    solution = store.get_resource("solution", "shop", "up")
    assert solution["recipe_arn"] == "arn:aws:personalize:::recipe/aws-sims"
    assert solution["dataset_group_arn"] == f"{ACCOUNT}:dataset-group/shop"
    # datasets stay per group; the renamed solution's models moved with it
    assert store.find_resource("arn:recsys:dataset/blog/Interactions")["arn"] == f"{ACCOUNT}:dataset/blog/INTERACTIONS"
    assert (home / "artifacts" / "models" / "blog" / "up-blog" / "v1").is_dir()
    assert not (home / "artifacts" / "models" / "blog" / "up").exists()
    renamed = json.loads(store.setting("renamed_resources"))
    assert {"type": "campaign", "group": "blog", "old": "main", "new": "main-blog"} in renamed
    assert stat.S_IMODE(store.db_path.stat().st_mode) == 0o600


def test_the_store_hands_out_typed_resources(store):
    from recsys.resources import Filter as TypedFilter

    store.create_dataset_group("shop")
    store.create_resource("filter", "shop", "f", {"filterExpression": "EXCLUDE ItemID WHERE Items.X IN (\"y\")"})
    typed = store.find_typed("arn:recsys:filter/shop/f")
    assert isinstance(typed, TypedFilter) and typed.name == "f" and typed.arn == f"{ACCOUNT}:filter/f"
    store.create_resource("api-key", "_global", "K1", {})
    with pytest.raises(ValidationError, match="no typed resource"):
        store.find_typed(f"{ACCOUNT}:api-key/K1")


def test_names_the_product_picks_stay_unique_per_workspace(store):
    # (Typed filter expressions are no longer stored: the workbench serves them as unsaved expressions.)
    for group in ("a", "b"):
        store.create_dataset_group(group)
    assert store.name_for("solution", "a", "user-personalization") == "user-personalization"
    store.create_resource("solution", "a", "user-personalization", {})
    assert store.name_for("solution", "a", "user-personalization") == "user-personalization"
    assert store.name_for("solution", "b", "user-personalization") == "user-personalization-b"
