"""Campaigns: deploy a solution version (or follow a solution's newest one) for real-time requests.

Example::

    create_campaign(store, "shop", "main", "arn:aws:personalize:us-east-1:000000000000:solution/up/$LATEST")
    update_campaign(store, "shop", "main", solution_version_arn=new_version_arn)   # no request fails
    describe_campaign(store, "shop", "main")["deployedSolutionVersionArn"]

A campaign is a stored resource (type ``campaign``, ARN ``arn:aws:personalize:<region>:<account>:campaign/<name>``) whose body
mirrors Personalize's CreateCampaign: ``solutionVersionArn`` (a version ARN, or ``<solution arn>/$LATEST``
to follow the newest ACTIVE version), ``minProvisionedTPS`` and ``campaignConfig``. Creating or updating a
campaign loads its model into the process-wide serving cache (`recsys.serving.runtime`) before the change is
recorded, so requests never wait for a load or fail during a switch: each request resolves the campaign once
(`recsys.serving.runtime.resolve_campaign`) and keeps that model until it answers.
"""

from __future__ import annotations

import dataclasses
import logging
import time

from recsys import solutions
from recsys.exceptions import ConflictError, NotFoundError, ValidationError
from recsys.recipes import USER_PERSONALIZATION
from recsys.resources import Campaign
from recsys.serving.request import DEFAULT_CAMPAIGN_CONFIG, check_campaign_config
from recsys.serving.runtime import CAMPAIGN, LATEST, RUNTIME, split_solution_arn
from recsys.store import ACTIVE, CREATE_FAILED, validate_name

log = logging.getLogger(__name__)


# -- create / update / delete ----------------------------------------------------------------------------


def create_campaign(store, group: str, name: str, solution_version_arn: str, *, min_provisioned_tps: int = 1,
                    campaign_config: dict | None = None) -> Campaign:
    """Deploy a solution version as campaign `name` (Personalize CreateCampaign); returns the ACTIVE campaign.

    Parameters
    ----------
    solution_version_arn : a version ARN (``arn:aws:personalize:<region>:<account>:solution/<solution>/<id>``), or
        ``<solution arn>/$LATEST`` to always serve the solution's newest ACTIVE version.
    min_provisioned_tps : kept for compatibility (>= 1); a self-hosted campaign has no billing floor.
    campaign_config : ``{"itemExplorationConfig": {"explorationWeight": "0.3", "explorationItemAgeCutOff": "30"}}``
        (the default), plus optional ``excludeSeenItems: "true"`` (an extension: drop items the user already
        interacted with).

    Raises
    ------
    ValidationError for a bad name/config, NotFoundError for an unknown version or solution,
    ConflictError when the campaign exists or the version is not ACTIVE.
    """
    validate_name(name, "campaign name")
    store.get_dataset_group(group)
    tps = _check_tps(min_provisioned_tps)
    config = check_campaign_config(campaign_config if campaign_config is not None else DEFAULT_CAMPAIGN_CONFIG)
    requested, solution_arn, version = _check_version(store, group, solution_version_arn)
    body = {
        "campaignArn": store.arn(CAMPAIGN, group, name),
        "solutionVersionArn": requested,
        "solutionArn": solution_arn,
        "minProvisionedTPS": tps,
        "campaignConfig": config,
        "deployedSolutionVersionArn": version.arn,
        "recipe": version.recipe,
        "recipe_type": version.recipe_type,
    }
    store.create_resource(CAMPAIGN, group, name, body, status=ACTIVE)
    try:
        _warm(store, version.arn)
    except Exception as exc:
        store.update_resource(CAMPAIGN, group, name, status=CREATE_FAILED, failure_reason=str(exc))
        raise
    return describe_campaign(store, group, name)


def update_campaign(store, group: str, name: str, *, solution_version_arn: str | None = None,
                    min_provisioned_tps: int | None = None, campaign_config: dict | None = None) -> Campaign:
    """Switch a campaign to another version and/or config (Personalize UpdateCampaign).

    The new model is loaded before the campaign record changes; requests already running finish on the old
    model and later ones use the new one, so no request fails during the switch.
    """
    campaign = get_campaign(store, name, group=group)
    if campaign.status not in (ACTIVE, CREATE_FAILED):
        raise ConflictError(f"Campaign {name!r} is {campaign.status}; it can be updated when ACTIVE or "
                            "CREATE FAILED.")
    body: dict = {}
    version = None
    if solution_version_arn is not None:
        requested, solution_arn, version = _check_version(store, group, solution_version_arn)
        body.update({"solutionVersionArn": requested, "solutionArn": solution_arn,
                     "deployedSolutionVersionArn": version.arn, "recipe": version.recipe,
                     "recipe_type": version.recipe_type})
        _warm(store, version.arn)
    if min_provisioned_tps is not None:
        body["minProvisionedTPS"] = _check_tps(min_provisioned_tps)
    if campaign_config is not None:
        body["campaignConfig"] = check_campaign_config(campaign_config)
    if not body:
        raise ValidationError(f"Nothing to update for campaign {name!r}: give a solution version, "
                              "minProvisionedTPS or a campaign config.")
    body["latestCampaignUpdate"] = {
        "solutionVersionArn": body.get("solutionVersionArn", campaign.solution_version_arn),
        "minProvisionedTPS": body.get("minProvisionedTPS", campaign.min_provisioned_tps),
        "campaignConfig": body.get("campaignConfig", campaign.campaign_config),
        "status": ACTIVE,
        "lastUpdatedDateTime": time.time(),
    }
    store.update_resource(CAMPAIGN, group, name, status=ACTIVE, body=body)
    return describe_campaign(store, group, name)


def delete_campaign(store, group: str, name: str) -> None:
    """Delete a campaign; its model leaves the serving cache unless another campaign still serves it."""
    campaign = get_campaign(store, name, group=group)
    store.delete_resource(CAMPAIGN, group, name)
    deployed = campaign.deployed_solution_version_arn
    if deployed and not any(c.deployed_solution_version_arn == deployed for c in list_campaigns(store)):
        RUNTIME.evict(store, deployed)


# -- read ------------------------------------------------------------------------------------------------


def get_campaign(store, campaign: str, *, group: str | None = None) -> Campaign:
    """A campaign by ARN, or by name within `group`; NotFoundError lists the group's campaigns."""
    if isinstance(campaign, str) and campaign.startswith("arn:"):
        try:
            found = store.find_resource(campaign)
        except NotFoundError:
            found = None
        if found is None or found["type"] != CAMPAIGN:
            raise NotFoundError(f"Campaign {campaign!r} does not exist; list campaigns with "
                                "`python -m recsys campaign list` or create one.")
        return Campaign.from_record(found)
    if not group:
        raise ValidationError(f"Campaign {campaign!r} is a name, not an ARN: also give its dataset group.")
    try:
        return Campaign.from_record(store.get_resource(CAMPAIGN, group, campaign))
    except NotFoundError:
        known = ", ".join(c.name for c in list_campaigns(store, group)) or "none yet"
        raise NotFoundError(f"Campaign {campaign!r} does not exist in dataset group {group!r} "
                            f"(existing: {known}).") from None


def describe_campaign(store, group: str, name: str) -> Campaign:
    """The campaign with the version it serves now (`deployed_solution_version_arn`, resolved for $LATEST;
    None with the reason in `problem` when there is none)."""
    campaign = get_campaign(store, name, group=group)
    try:
        return dataclasses.replace(campaign, deployed_solution_version_arn=_deployed_version(store, campaign))
    except NotFoundError as exc:
        return dataclasses.replace(campaign, deployed_solution_version_arn=None, problem=str(exc))


def list_campaigns(store, group: str | None = None) -> list[Campaign]:
    """Campaigns of one group (or of all groups), newest first."""
    return [Campaign.from_record(r) for r in store.list_resources(CAMPAIGN, group)]


# -- helpers ---------------------------------------------------------------------------------------------


def _deployed_version(store, campaign: Campaign) -> str:
    requested = campaign.solution_version_arn or ""
    if requested.endswith("/" + LATEST):
        group, solution = split_solution_arn(store, requested[: -len(LATEST) - 1])
        return solutions.latest_active_version(store, group, solution).arn
    return campaign.deployed_solution_version_arn or requested


def _check_version(store, group: str, solution_version_arn: str) -> tuple[str, str, dict]:
    """(requested ARN, solution ARN, the version resource to deploy now) after checking it is servable."""
    if not isinstance(solution_version_arn, str) or not solution_version_arn:
        raise ValidationError("solutionVersionArn is required: a version ARN or <solution arn>/$LATEST.")
    if solution_version_arn.endswith("/" + LATEST):
        sol_group, solution = split_solution_arn(store, solution_version_arn[: -len(LATEST) - 1])
        _same_group(sol_group, group, solution_version_arn)
        sol = solutions.get_solution(store, sol_group, solution)
        return solution_version_arn, sol.arn, solutions.latest_active_version(store, sol_group, solution)
    try:
        version = solutions.get_solution_version(store, solution_version_arn)
    except NotFoundError:
        raise NotFoundError(f"Solution version {solution_version_arn!r} does not exist; give a version ARN "
                            f"(`python -m recsys compare --group {group}` lists the ACTIVE ones) or "
                            "<solution arn>/$LATEST.") from None
    _same_group(version.group, group, solution_version_arn)
    if version.status != ACTIVE:
        raise ConflictError(f"Solution version {solution_version_arn} is {version.status}; a campaign needs "
                            "an ACTIVE version (wait for training to finish).")
    return solution_version_arn, version.solution_arn or store.arn(solutions.SOLUTION, group, version.solution), version


def _same_group(found: str, group: str, arn: str) -> None:
    if found != group:
        raise ValidationError(f"{arn} belongs to dataset group {found!r}, not {group!r}; a campaign serves a "
                              "version of its own group.")


def _check_tps(value) -> int:
    try:
        tps = int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"minProvisionedTPS must be an integer >= 1, got {value!r}.") from None
    if tps < 1:
        raise ValidationError(f"minProvisionedTPS must be >= 1, got {tps}.")
    return tps


def _warm(store, version_arn: str) -> None:
    """The warm-up hook: load the model, its candidate catalogue and the group's exploration counts into this
    process's serving cache, so the first request after a create/update costs what every other one does."""
    model = RUNTIME.model(store, version_arn)
    group = model.version.group
    RUNTIME.catalogue(store, group, model)
    if model.recipe_type == USER_PERSONALIZATION:
        RUNTIME.activity(store, group)
