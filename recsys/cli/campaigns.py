"""CLI commands `campaign create|update|list|describe|delete`, `get-recommendations` and `personalize-ranking`."""

import json

import click

from recsys.cli import echo_json, get_store, group_option, main


def _json_option(value, what: str):
    if value is None:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"{what} must be JSON ({exc.msg} at character {exc.pos}), e.g. "
                                 "'{\"DEVICE\": \"mobile\"}'") from None


def _version_arn(store, group: str, solution: str, version: str | None) -> str:
    """The ARN to deploy: <solution arn>/$LATEST when no version is given (or "$LATEST"), else the version's."""
    from recsys.solutions import get_solution, resolve_version

    if not version or version == "$LATEST":
        return f"{get_solution(store, group, solution).arn}/$LATEST"
    return resolve_version(store, group, solution, version).arn


def _config(exploration_weight, exploration_age_cutoff, exclude_seen):
    exploration = {}
    if exploration_weight is not None:
        exploration["explorationWeight"] = str(exploration_weight)
    if exploration_age_cutoff is not None:
        exploration["explorationItemAgeCutOff"] = str(exploration_age_cutoff)
    config = {}
    if exploration:
        config["itemExplorationConfig"] = exploration
    if exclude_seen is not None:
        config["excludeSeenItems"] = "true" if exclude_seen else "false"
    return config


def _campaign_line(c) -> str:
    deployed = c.deployed_solution_version_arn or c.solution_version_arn
    follows = "  (follows $LATEST)" if str(c.solution_version_arn or "").endswith("/$LATEST") else ""
    return f"{c.name}  {c.status}  {c.recipe or ''}  {deployed}{follows}"



@main.group("campaign")
def campaign_group():
    """Deploy solution versions as campaigns that answer real-time requests.

    \b
    Example:
      python -m recsys campaign create --group demo --name main --solution up
      python -m recsys get-recommendations --group demo --campaign main --user u0001
    """


@campaign_group.command("create")
@group_option(help="Dataset group.")
@click.option("--name", "-n", required=True, help="Campaign name.")
@click.option("--solution", "-s", required=True, help="Solution to deploy.")
@click.option("--version", "-v", default=None,
              help="Version id/ARN to pin; default or '$LATEST' follows the newest ACTIVE version.")
@click.option("--min-tps", type=int, default=1, show_default=True, help="minProvisionedTPS (kept for compatibility).")
@click.option("--exploration-weight", type=float, default=None, help="0-1 (default 0.3), user personalization only.")
@click.option("--exploration-age-cutoff", type=float, default=None, help="Days (default 30).")
@click.option("--exclude-seen/--keep-seen", default=None,
              help="Drop items the user already interacted with (Personalize keeps them; default keep).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def create_command(ctx, group, name, solution, version, min_tps, exploration_weight, exploration_age_cutoff,
                   exclude_seen, as_json):
    """Create a campaign serving a solution version.

    \b
    Example:
      python -m recsys campaign create -g demo -n main -s up            # follows $LATEST
      python -m recsys campaign create -g demo -n pinned -s up -v 692b0f1ca3f2
    """
    from recsys.campaigns import DEFAULT_CAMPAIGN_CONFIG, create_campaign

    store = get_store(ctx)
    config = _config(exploration_weight, exploration_age_cutoff, exclude_seen) or DEFAULT_CAMPAIGN_CONFIG
    campaign = create_campaign(store, group, name, _version_arn(store, group, solution, version),
                               min_provisioned_tps=min_tps, campaign_config=config)
    if as_json:
        echo_json(campaign)
        return
    click.echo(f"Created campaign {name!r} ({campaign.arn}), serving {campaign.deployed_solution_version_arn}.")


@campaign_group.command("update")
@group_option(help="Dataset group.")
@click.option("--name", "-n", required=True, help="Campaign name.")
@click.option("--solution", "-s", default=None, help="Solution of the version to switch to.")
@click.option("--version", "-v", default=None, help="Version id/ARN, or '$LATEST' (needs --solution).")
@click.option("--min-tps", type=int, default=None, help="minProvisionedTPS.")
@click.option("--exploration-weight", type=float, default=None, help="0-1.")
@click.option("--exploration-age-cutoff", type=float, default=None, help="Days.")
@click.option("--exclude-seen/--keep-seen", default=None, help="Drop items the user already interacted with.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def update_command(ctx, group, name, solution, version, min_tps, exploration_weight, exploration_age_cutoff,
                   exclude_seen, as_json):
    """Switch a campaign to another version or configuration; requests keep being answered meanwhile.

    \b
    Example:
      python -m recsys campaign update -g demo -n main -s up -v 692b0f1ca3f2
    """
    from recsys.campaigns import get_campaign, update_campaign

    store = get_store(ctx)
    arn = None
    if solution or version:
        if not solution:
            solution = (get_campaign(store, name, group=group).solution_arn or "").rsplit("/", 1)[-1]
        arn = _version_arn(store, group, solution, version)
    config = _config(exploration_weight, exploration_age_cutoff, exclude_seen)
    if config:
        current = dict(get_campaign(store, name, group=group).campaign_config)
        current.update(config)
        config = current
    campaign = update_campaign(store, group, name, solution_version_arn=arn, min_provisioned_tps=min_tps,
                               campaign_config=config or None)
    if as_json:
        echo_json(campaign)
        return
    click.echo(f"Updated campaign {name!r}: serving {campaign.deployed_solution_version_arn}.")


@campaign_group.command("list")
@click.option("--group", "-g", default=None, help="Dataset group (default: all groups).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_command(ctx, group, as_json):
    """List campaigns, newest first.

    \b
    Example:
      python -m recsys campaign list --group demo
    """
    from recsys.campaigns import describe_campaign, list_campaigns

    store = get_store(ctx)
    if group:
        store.get_dataset_group(group)
    campaigns = [describe_campaign(store, c.group, c.name) for c in list_campaigns(store, group)]
    if as_json:
        echo_json(campaigns)
        return
    if not campaigns:
        click.echo("No campaigns yet. Create one with: "
                   "python -m recsys campaign create --group G --name N --solution S")
        return
    for c in campaigns:
        click.echo(_campaign_line(c))


@campaign_group.command("describe")
@group_option(help="Dataset group.")
@click.option("--name", "-n", required=True, help="Campaign name.")
@click.pass_context
def describe_command(ctx, group, name):
    """Show one campaign as JSON (with the version it serves now).

    \b
    Example:
      python -m recsys campaign describe --group demo --name personalization
    """
    from recsys.campaigns import describe_campaign

    echo_json(describe_campaign(get_store(ctx), group, name))


@campaign_group.command("delete")
@group_option(help="Dataset group.")
@click.option("--name", "-n", required=True, help="Campaign name.")
@click.pass_context
def delete_command(ctx, group, name):
    """Delete a campaign (its solution versions stay).

    \b
    Example:
      python -m recsys campaign delete --group demo --name personalization
    """
    from recsys.campaigns import delete_campaign

    delete_campaign(get_store(ctx), group, name)
    click.echo(f"Deleted campaign {name!r}.")


def _campaign_arn(store, campaign: str, group: str | None) -> str:
    from recsys.campaigns import get_campaign

    return get_campaign(store, campaign, group=group).arn


def _filter_arn(store, group: str | None, name: str | None) -> str | None:
    if not name:
        return None
    if name.startswith("arn:"):
        return name
    if not group:
        raise click.BadParameter("--filter by name needs --group (or pass the filter's ARN).")
    from recsys.filters import get_filter

    return get_filter(store, group, name).arn


def _print_items(items: list[dict], rid: str) -> None:
    if not items:
        click.echo("No item passes: the filter (or the campaign's settings) left nothing for this request.")
    for rank, item in enumerate(items, 1):
        score = f"{item['score']:.6f}" if "score" in item else "-"
        promo = f"  [promotion {item['promotionName']}]" if item.get("promotionName") else ""
        meta = "  " + json.dumps(item["metadata"]) if item.get("metadata") else ""
        reason = "; ".join(item.get("reason") or [])
        click.echo(f"{rank:>3}. {item['itemId']:<16} {score:>10}  {reason}{promo}{meta}")
    click.echo(f"recommendationId: {rid}")


@main.command("get-recommendations")
@click.option("--campaign", "-c", required=True, help="Campaign ARN, or name with --group.")
@group_option(help="Dataset group of --campaign/--filter names (default: the only group).", required=False)
@click.option("--user", "-u", "user_id", default=None, help="User id (or anonymous sessionId).")
@click.option("--item", "-i", "item_id", default=None, help="Item id (related-items campaigns).")
@click.option("--num", "-n", "num_results", type=int, default=25, show_default=True, help="numResults (max 500).")
@click.option("--filter", "filter_name", default=None, help="Filter name or ARN.")
@click.option("--filter-values", default=None, help='JSON, e.g. \'{"CATEGORY": "\\"books\\""}\'.')
@click.option("--context", default=None, help='JSON, e.g. \'{"DEVICE": "mobile"}\'.')
@click.option("--promotion", default=None,
              help='JSON: {"name": "new", "percentPromotedItems": 20, "filterArn": "...", "filterValues": {...}}; '
                   '"filter" may name a filter of the group instead of filterArn.')
@click.option("--metadata", "metadata", default=None,
              help="Comma-separated item columns to return, e.g. PRICE,CATEGORY_L1.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (Personalize's response shape).")
@click.pass_context
def get_recommendations_command(ctx, campaign, group, user_id, item_id, num_results, filter_name, filter_values,
                                context, promotion, metadata, as_json):
    """Real-time recommendations from a campaign (Personalize GetRecommendations).

    \b
    Example:
      python -m recsys get-recommendations -g demo -c main -u u0001 -n 10 --context '{"DEVICE": "mobile"}'
    """
    from recsys.serving import get_recommendations

    store = get_store(ctx)
    context, filter_values = _json_option(context, "--context"), _json_option(filter_values, "--filter-values")
    promotions = None
    if promotion:
        promo = _json_option(promotion, "--promotion")
        if isinstance(promo, dict) and promo.get("filter") and not promo.get("filterArn"):
            promo["filterArn"] = _filter_arn(store, group, promo.pop("filter"))
        promotions = [promo]
    response = get_recommendations(
        store, _campaign_arn(store, campaign, group), user_id=user_id, item_id=item_id, num_results=num_results,
        context=context, filter_arn=_filter_arn(store, group, filter_name),
        filter_values=filter_values, promotions=promotions,
        metadata_columns={"ITEMS": [c.strip() for c in metadata.split(",") if c.strip()]} if metadata else None,
    )
    if as_json:
        echo_json(response)
        return
    _print_items(response["itemList"], response["recommendationId"])


@main.command("personalize-ranking")
@click.option("--campaign", "-c", required=True, help="Campaign ARN, or name with --group.")
@group_option(help="Dataset group of --campaign/--filter names (default: the only group).", required=False)
@click.option("--user", "-u", "user_id", required=True, help="User id (or anonymous sessionId).")
@click.option("--items", required=True, help="Comma-separated item ids to rank.")
@click.option("--filter", "filter_name", default=None, help="Filter name or ARN.")
@click.option("--filter-values", default=None, help="JSON map of filter parameters.")
@click.option("--context", default=None, help='JSON, e.g. \'{"DEVICE": "mobile"}\'.')
@click.option("--metadata", "metadata", default=None, help="Comma-separated item columns to return.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (Personalize's response shape).")
@click.pass_context
def personalize_ranking_command(ctx, campaign, group, user_id, items, filter_name, filter_values, context, metadata,
                                as_json):
    """Re-rank a list of items for a user (Personalize GetPersonalizedRanking).

    \b
    Example:
      python -m recsys personalize-ranking -g demo -c main -u u0001 --items i0001,i0002,i0003
    """
    from recsys.serving import get_personalized_ranking

    store = get_store(ctx)
    context, filter_values = _json_option(context, "--context"), _json_option(filter_values, "--filter-values")
    response = get_personalized_ranking(
        store, _campaign_arn(store, campaign, group), user_id=user_id,
        input_list=[i.strip() for i in items.split(",") if i.strip()],
        context=context, filter_arn=_filter_arn(store, group, filter_name), filter_values=filter_values,
        metadata_columns={"ITEMS": [c.strip() for c in metadata.split(",") if c.strip()]} if metadata else None,
    )
    if as_json:
        echo_json(response)
        return
    _print_items(response["personalizedRanking"], response["recommendationId"])
