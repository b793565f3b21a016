"""CLI commands for the event spool: what PutEvents kept while a long import held the workspace, and the dead
letters (spooled batches that could not be written), to retry or drop."""

import datetime as dt

import click

from recsys.cli import echo_json, get_store, main


@main.group("events")
def events_group():
    """Streamed events: the spool PutEvents uses while a long import holds the workspace.

    \b
    Example:
      python -m recsys events spool
      python -m recsys events spool retry --all
    """


@events_group.group("spool", invoke_without_command=True)
@click.pass_context
def spool_group(ctx):
    """Spooled event batches and dead letters (batches that could not be written, with the reason).

    Without a subcommand: the same as `spool list`.

    \b
    Example:
      python -m recsys events spool list
      python -m recsys events spool retry 3
      python -m recsys events spool drop --all
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(spool_list_command, group=None, as_json=False)


@spool_group.command("list")
@click.option("--group", "-g", default=None, help="Only this dataset group (default: all).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def spool_list_command(ctx, group, as_json):
    """How many batches wait in the spool, and every dead letter with its reason.

    \b
    Example:
      python -m recsys events spool list --group demo
    """
    from recsys.event_writer import dead_letters, spooled_count

    store = get_store(ctx)
    waiting, dead = spooled_count(store, group), dead_letters(store, group)
    if as_json:
        echo_json({"spooled": waiting, "dead_letters": dead})
        return
    click.echo(f"{waiting:,} batch(es) waiting in the spool; {len(dead):,} dead letter(s).")
    for letter in dead:
        when = dt.datetime.fromtimestamp(letter["failed_at"], dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        click.echo(f"  #{letter['id']}  group {letter['group']}  {letter['events']} event(s)  session "
                   f"{letter['session_id']}  failed {when}\n      {letter['reason']}")
    if dead:
        click.echo("Retry with `events spool retry ID|--all` once the cause is fixed, or drop with "
                   "`events spool drop ID|--all`.")


def _ids(ids, all_):
    if all_ == bool(ids):
        raise click.UsageError("Give dead letter ids, or --all (not both).")
    return None if all_ else list(ids)


@spool_group.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "all_", is_flag=True, help="Every dead letter.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def spool_retry_command(ctx, ids, all_, as_json):
    """Write dead letters again (those that fail again stay, with their new reason).

    \b
    Example:
      python -m recsys events spool retry 3 4
      python -m recsys events spool retry --all
    """
    from recsys.event_writer import retry_dead_letters

    result = retry_dead_letters(get_store(ctx), _ids(ids, all_))
    if as_json:
        echo_json(result)
        return
    click.echo(f"Retried {result['retried']:,} dead letter(s): {result['moved']:,} batch(es) written, "
               f"{result['failed']:,} failed again.")
    if result["failed"]:
        raise SystemExit(1)


@spool_group.command("drop")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "all_", is_flag=True, help="Every dead letter.")
@click.pass_context
def spool_drop_command(ctx, ids, all_):
    """Delete dead letters for good (their events are not recorded).

    \b
    Example:
      python -m recsys events spool drop 3
    """
    from recsys.event_writer import drop_dead_letters

    n = drop_dead_letters(get_store(ctx), _ids(ids, all_))
    click.echo(f"Dropped {n:,} dead letter(s).")
