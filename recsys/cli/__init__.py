"""The `recsys` command line (also `python -m recsys`): a thin click layer over the library; one module per area.

Command bodies import the library inside the function on purpose: `recsys --help`, shell completion and a
mistyped option answer in a fraction of a second instead of first loading pandas, SciPy and the recipes.
"""

import dataclasses
import importlib
import json
import pkgutil
import sqlite3

import click

from recsys.exceptions import RecsysError
from recsys.files import environment_problem


class _Group(click.Group):
    """A click group that turns library errors, and the environment's (a full disk, a read-only workspace),
    into one clear line and a non-zero exit."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except RecsysError as exc:
            raise click.ClickException(str(exc).splitlines()[0] if "\n" not in str(exc) else str(exc)) from exc
        except (OSError, sqlite3.Error) as exc:
            problem = environment_problem(exc)
            if problem is None:
                raise
            raise click.ClickException(str(problem)) from exc


@click.group(cls=_Group)
@click.option("--home", type=click.Path(file_okay=False), envvar="RECSYS_HOME", default=None,
              help="Workspace directory (default: $RECSYS_HOME or data/workspace).")
@click.pass_context
def main(ctx, home):
    """Self-hosted Amazon Personalize: data, recipes, evaluation, inference and API.

    \b
    Example:
      python -m recsys demo
      python -m recsys profile --group demo
    """
    ctx.ensure_object(dict)
    ctx.obj["home"] = home


def get_store(ctx):
    """The workspace Store for this invocation (opened once, on first use, after recovering jobs that a killed
    process left running: `recsys.recovery`)."""
    from recsys.recovery import recover
    from recsys.store import Store

    root = ctx.find_root()
    if "store" not in root.obj:
        store = Store(root.obj.get("home"))
        report = recover(store, log_report=False)  # said here once, not also by the library's log
        if report:
            click.echo(f"{report} ({store.home})", err=True)
        root.obj["store"] = store
    return root.obj["store"]


def group_option(help: str = "Dataset group (may be left out when the workspace has only one).",
                 required: bool = True):
    """`--group/-g`, which defaults to the workspace's only dataset group when there is exactly one.

    With required=False the option stays None when there is no single group to default to (for commands
    that also accept full ARNs, which name their group).
    """

    def default_group(ctx, _param, value):
        if value is not None:
            return value
        names = [g["name"] for g in get_store(ctx).list_dataset_groups()]
        if len(names) == 1:
            return names[0]
        if not required:
            return None
        if not names:
            raise click.UsageError("The workspace has no dataset group yet: run `python -m recsys demo` or "
                                   "`python -m recsys create-group NAME` first.", ctx=ctx)
        raise click.UsageError(f"The workspace has {len(names)} dataset groups ({', '.join(names)}): "
                               "choose one with --group.", ctx=ctx)

    return click.option("--group", "-g", default=None, callback=default_group, help=help)


def echo_json(data):
    """Print machine-readable output for --json (typed resources print their fields, snake_case)."""
    click.echo(json.dumps(data, indent=2, default=_plain))


def _plain(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


# Each area registers its commands on `main` when its module is imported.
for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
