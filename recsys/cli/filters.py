"""CLI commands `filter create|list|get|delete`: named Personalize filter expressions of a dataset group."""

import click

from recsys.cli import echo_json, get_store, group_option, main


@main.group("filter")
def filter_group():
    """Create, list, show and delete named filters (Personalize's filter language).

    \b
    Example:
      python -m recsys filter create --group demo --name no-purchased \\
          'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'
      python -m recsys filter list --group demo
    """


@filter_group.command("create")
@group_option(help="Dataset group.")
@click.option("--name", "-n", required=True, help="Filter name (1-63 letters, digits, '-', '_').")
@click.argument("expression")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def create_command(ctx, group, name, expression, as_json):
    """Parse EXPRESSION and store it as a named filter; syntax errors point at the offending token.

    \b
    Example:
      python -m recsys filter create -g demo -n cheap 'INCLUDE ItemID WHERE Items.PRICE <= $PRICE'
    """
    from recsys.filters import create_filter, parse_filter

    resource = create_filter(get_store(ctx), group, name, expression)
    if as_json:
        echo_json(resource)
        return
    params = sorted(parse_filter(expression).parameters)
    click.echo(f"Created filter {name!r} ({resource.arn}).")
    if params:
        click.echo("Parameters: " + ", ".join(f"${p}" for p in params)
                   + "  (pass filterValues like {\"" + params[0] + "\": \"\\\"value\\\"\"})")


@filter_group.command("check")
@click.argument("expression")
@click.option("--group", "-g", default=None, help="Also check the fields against this group's dataset schemas.")
@click.pass_context
def check_command(ctx, expression, group):
    """Parse EXPRESSION without storing it; print its parameters and fields.

    \b
    Example:
      python -m recsys filter check 'INCLUDE ItemID WHERE Items.PRICE <= $PRICE'
    """
    from recsys.filters import parse_filter
    from recsys.filters.resources import check_fields

    compiled = parse_filter(expression)
    if group is not None:
        store = get_store(ctx)
        store.get_dataset_group(group)
        check_fields(store, group, compiled)
    actions = " | ".join(f"{e.action} {e.target} ({e.dataset})" for e in compiled.expressions)
    click.echo(f"OK: {actions}")
    click.echo("Fields: " + ", ".join(f"{d}.{f}" for d, f in sorted(compiled.fields)))
    click.echo("Parameters: " + (", ".join(f"${p}" for p in sorted(compiled.parameters)) or "none"))


@filter_group.command("list")
@group_option(help="Dataset group.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_command(ctx, group, as_json):
    """List the filters of a dataset group, newest first.

    \b
    Example:
      python -m recsys filter list --group demo --json
    """
    from recsys.filters import list_filters

    store = get_store(ctx)
    store.get_dataset_group(group)
    filters = list_filters(store, group)
    if as_json:
        echo_json(filters)
        return
    if not filters:
        click.echo(f"No filters in dataset group {group!r}. Create one with: python -m recsys filter create ...")
        return
    width = max(len(f.name) for f in filters)
    for f in filters:
        click.echo(f"{f.name:<{width}}  {f.status:<6}  {f.filter_expression}")


@filter_group.command("get")
@group_option(help="Dataset group.")
@click.option("--name", "-n", required=True, help="Filter name.")
@click.pass_context
def get_command(ctx, group, name):
    """Show one filter as JSON.

    \b
    Example:
      python -m recsys filter get --group demo --name cheap
    """
    from recsys.filters import get_filter

    echo_json(get_filter(get_store(ctx), group, name))


@filter_group.command("delete")
@group_option(help="Dataset group.")
@click.option("--name", "-n", required=True, help="Filter name.")
@click.pass_context
def delete_command(ctx, group, name):
    """Delete a filter.

    \b
    Example:
      python -m recsys filter delete --group demo --name cheap
    """
    from recsys.filters import delete_filter

    delete_filter(get_store(ctx), group, name)
    click.echo(f"Deleted filter {name!r} from dataset group {group!r}.")
