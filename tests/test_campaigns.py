"""Campaigns: create/describe/list/update/delete, $LATEST, version switches under load, and the CLI."""

import json
import threading

import pytest
from click.testing import CliRunner

from recsys.campaigns import (
    create_campaign, delete_campaign, describe_campaign, get_campaign, list_campaigns,
    update_campaign,
)
from recsys.cli import main
from recsys.columns import INTERACTIONS, ITEMS, USERS
from recsys.demo import demo_schema, generate_demo
from recsys.exceptions import ConflictError, NotFoundError, ValidationError
from recsys.serving import RUNTIME, get_recommendations, resolve_campaign
from recsys.store import Store

GROUP = "shop"


def load_demo_frames(store, group, demo):
    """Write the demo frames straight into the group's datasets (no files, no import job)."""
    from recsys import datasets

    store.create_dataset_group(group)
    for dataset_type in (INTERACTIONS, ITEMS, USERS):
        datasets.get_or_create_dataset(store, group, dataset_type, demo_schema(dataset_type))
        with store.transaction() as db:
            datasets.write_frame(db, group, dataset_type, demo.frame(dataset_type), mode="FULL")


def train(store, solution):
    from recsys.runs import create_solution_version

    version = create_solution_version(store, GROUP, solution, wait=True)
    assert version.status == "ACTIVE", version.failure_reason
    return version


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from recsys.solutions import create_solution

    home = tmp_path_factory.mktemp("campaigns")
    store = Store(home)
    demo = generate_demo(seed=8, n_users=250, n_items=200, n_interactions=12_000)
    load_demo_frames(store, GROUP, demo)
    create_solution(store, GROUP, "up", "aws-user-personalization")
    create_solution(store, GROUP, "pop", "aws-popularity-count")
    up, pop = train(store, "up"), train(store, "pop")
    return {"store": store, "home": home, "up": up, "pop": pop, "user": demo.interactions["USER_ID"].iloc[0]}


def test_create_describe_list_delete(world):
    store = world["store"]
    campaign = create_campaign(store, GROUP, "c-basic", world["up"].arn, min_provisioned_tps=3)
    assert campaign.arn == "arn:aws:personalize:us-east-1:000000000000:campaign/c-basic"
    assert campaign.status == "ACTIVE" and campaign.min_provisioned_tps == 3
    assert campaign.campaign_config == {"itemExplorationConfig": {"explorationWeight": "0.3",
                                                                  "explorationItemAgeCutOff": "30"}}
    assert campaign.deployed_solution_version_arn == world["up"].arn and campaign.group == GROUP
    assert RUNTIME.is_loaded(store, world["up"].arn), "the model is loaded before the first request"
    assert get_campaign(store, campaign.arn).name == "c-basic"
    assert "c-basic" in [c.name for c in list_campaigns(store, GROUP)]
    with pytest.raises(ConflictError):
        create_campaign(store, GROUP, "c-basic", world["up"].arn)
    delete_campaign(store, GROUP, "c-basic")
    with pytest.raises(NotFoundError, match="c-basic"):
        describe_campaign(store, GROUP, "c-basic")
    with pytest.raises(NotFoundError, match="does not exist"):
        get_recommendations(store, campaign.arn, user_id=world["user"])


@pytest.mark.parametrize("kwargs, error, message", [
    ({"name": "bad name"}, ValidationError, "campaign name"),
    ({"version": "arn:recsys:solution/shop/up/nope"}, NotFoundError, "does not exist"),
    ({"version": "arn:recsys:solution/other/up/$LATEST"}, ValidationError, "dataset group"),
    ({"config": {"itemExplorationConfig": {"explorationWeight": "2"}}}, ValidationError, "explorationWeight"),
    ({"config": {"noSuchKey": 1}}, ValidationError, "Unknown campaignConfig"),
    ({"tps": 0}, ValidationError, "minProvisionedTPS"),
])
def test_create_rejects_bad_input(world, kwargs, error, message):
    with pytest.raises(error, match=message):
        create_campaign(world["store"], GROUP, kwargs.get("name", "c-bad"), kwargs.get("version", world["up"].arn),
                        min_provisioned_tps=kwargs.get("tps", 1), campaign_config=kwargs.get("config"))


def test_latest_follows_the_newest_active_version(world):
    store = world["store"]
    from recsys.solutions import create_solution

    create_solution(store, GROUP, "pop-latest", "aws-popularity-count")
    first = train(store, "pop-latest")
    campaign = create_campaign(store, GROUP, "c-latest", "arn:recsys:solution/shop/pop-latest/$LATEST")
    assert campaign.solution_version_arn.endswith("/$LATEST")
    assert resolve_campaign(store, campaign.arn)[1] == first.arn
    second = train(store, "pop-latest")
    assert resolve_campaign(store, campaign.arn)[1] == second.arn
    assert describe_campaign(store, GROUP, "c-latest").deployed_solution_version_arn == second.arn
    assert len(get_recommendations(store, campaign.arn, user_id=world["user"], num_results=5)["itemList"]) == 5
    assert RUNTIME.is_loaded(store, second.arn)


def test_update_switches_version_with_no_failed_request(world):
    store = world["store"]
    campaign = create_campaign(store, GROUP, "c-switch", world["up"].arn)
    failures, answers, stop = [], [], threading.Event()

    def client():
        while not stop.is_set():
            try:
                items = get_recommendations(store, campaign.arn, user_id=world["user"], num_results=10)["itemList"]
                answers.append("score" in items[0])
                assert len(items) == 10
            except Exception as exc:  # noqa: BLE001 - the test counts every failure
                failures.append(repr(exc))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for target in ("pop", "up", "pop", "up", "pop"):
            update_campaign(store, GROUP, "c-switch", solution_version_arn=world[target].arn)
            seen = len(answers)
            for _ in range(200):  # let a few requests run on each version (at most ~10 s)
                if len(answers) >= seen + 8 or failures:
                    break
                threading.Event().wait(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not failures, failures[:3]
    assert len(answers) > 20 and any(answers) and not all(answers), "both models answered during the switches"
    final = describe_campaign(store, GROUP, "c-switch")
    assert final.deployed_solution_version_arn == world["pop"].arn
    assert final.latest_campaign_update["solutionVersionArn"] == world["pop"].arn
    items = get_recommendations(store, campaign.arn, user_id=world["user"])["itemList"]
    assert all("score" not in i for i in items), "after the update the popularity model answers"


def test_update_config_changes_exploration(world):
    store = world["store"]
    campaign = create_campaign(store, GROUP, "c-config", world["up"].arn)
    updated = update_campaign(store, GROUP, "c-config",
                              campaign_config={"itemExplorationConfig": {"explorationWeight": "0"}})
    assert updated.campaign_config["itemExplorationConfig"]["explorationWeight"] == "0"
    items = get_recommendations(store, campaign.arn, user_id=world["user"], num_results=25)["itemList"]
    assert not any("Exploration" in i["reason"] for i in items)
    with pytest.raises(ValidationError, match="Nothing to update"):
        update_campaign(store, GROUP, "c-config")


def test_exclude_seen_items_extension(world):
    from recsys.datasets import user_history

    store, user = world["store"], world["user"]
    seen = set(user_history(store, GROUP, user)["ITEM_ID"])
    campaign = create_campaign(store, GROUP, "c-unseen", world["up"].arn,
                               campaign_config={"excludeSeenItems": "true"})
    items = get_recommendations(store, campaign.arn, user_id=user, num_results=100)["itemList"]
    assert len(items) == 100 and not {i["itemId"] for i in items} & seen


def test_cli_create_list_recommend_rank_update_delete(world):
    runner = CliRunner()
    home = ["--home", str(world["home"])]

    def run(*args):
        result = runner.invoke(main, home + list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    out = run("campaign", "create", "--group", GROUP, "--name", "c-cli", "--solution", "up")
    assert "arn:aws:personalize:us-east-1:000000000000:campaign/c-cli" in out
    listed = json.loads(run("campaign", "list", "--group", GROUP, "--json"))
    cli = next(c for c in listed if c["name"] == "c-cli")
    assert cli["solution_version_arn"].endswith("/$LATEST")
    response = json.loads(run("get-recommendations", "--campaign", "c-cli", "--group", GROUP, "--user",
                              world["user"], "--num", "5", "--context", '{"DEVICE": "mobile"}', "--json"))
    assert len(response["itemList"]) == 5 and response["recommendationId"].startswith("RID-")
    text = run("get-recommendations", "-c", cli["arn"], "-u", world["user"], "-n", "3", "--metadata", "PRICE")
    assert "recommendationId" in text and "PRICE" in text
    ranked = json.loads(run("personalize-ranking", "-c", "c-cli", "-g", GROUP, "-u", world["user"],
                            "--items", ",".join(i["itemId"] for i in response["itemList"][::-1]), "--json"))
    assert sorted(i["itemId"] for i in ranked["personalizedRanking"]) == sorted(
        i["itemId"] for i in response["itemList"])
    run("campaign", "update", "--group", GROUP, "--name", "c-cli", "--solution", "pop",
        "--version", world["pop"].version_id)
    assert describe_campaign(world["store"], GROUP, "c-cli").deployed_solution_version_arn == world["pop"].arn
    bad = runner.invoke(main, home + ["get-recommendations", "-c", cli["arn"], "-u", "x", "--context", "{oops"])
    assert bad.exit_code != 0 and "JSON" in bad.output
    run("campaign", "delete", "--group", GROUP, "--name", "c-cli")
    bad = runner.invoke(main, home + ["get-recommendations", "-c", "c-cli", "-g", GROUP, "-u", "x"])
    assert bad.exit_code != 0 and "does not exist" in bad.output
