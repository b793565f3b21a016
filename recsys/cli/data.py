"""CLI commands for data: `init`, `create-group`, `import`, `datasets`, `create-tracker` and `put-events`."""

import json
import sys
import time
from pathlib import Path

import click

from recsys.cli import echo_json, get_store, group_option, main


def _pairs(values, what):
    out = {}
    for value in values:
        if "=" not in value:
            raise click.BadParameter(f"{value!r}: write {what} as SRC=DST")
        src, dst = value.split("=", 1)
        out[src] = dst
    return out


@main.command("init")
@click.pass_context
def init_command(ctx):
    """Create the workspace (database and artifacts folder) and print its path.

    \b
    Example:
      python -m recsys --home data/workspace init
    """
    store = get_store(ctx)
    click.echo(str(store.home))


@main.command("create-group")
@click.argument("name")
@click.option("--domain", type=click.Choice(["ECOMMERCE", "VIDEO_ON_DEMAND"], case_sensitive=False), default=None,
              help="Domain dataset group (default: custom).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def create_group_command(ctx, name, domain, as_json):
    """Create a dataset group NAME.

    \b
    Example:
      python -m recsys create-group shop --domain ECOMMERCE
    """
    group = get_store(ctx).create_dataset_group(name, domain=domain)
    if as_json:
        echo_json(group)
    else:
        click.echo(f"Created dataset group {name!r} ({group['domain'] or 'custom'}): {group['arn']}")


@main.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@group_option(help="Dataset group.")
@click.option("--type", "dataset_type", required=True,
              type=click.Choice(["interactions", "items", "users"], case_sensitive=False), help="Dataset type.")
@click.option("--mode", type=click.Choice(["FULL", "INCREMENTAL"], case_sensitive=False), default="FULL",
              show_default=True, help="FULL replaces the bulk rows; INCREMENTAL appends/upserts.")
@click.option("--map", "maps", multiple=True, metavar="SRC=DST",
              help="Map a source column to a schema field (repeatable); without a header use positions: 0=USER_ID.")
@click.option("--schema", "schema_file", type=click.Path(exists=True, dir_okay=False),
              help="Avro schema JSON for a new dataset (default: the group's default schema).")
@click.option("--delimiter", default=None, help="CSV delimiter (default: sniffed; '\\t' for tab).")
@click.option("--no-header", is_flag=True, help="The CSV has no header row; columns are named 0, 1, 2, ...")
@click.option("--date-column", "date_columns", multiple=True, metavar="COL",
              help="Parse this column's dates (ISO 8601 or --date-format) into epoch seconds (repeatable).")
@click.option("--date-format", default=None, help="strftime format of the date columns, e.g. '%d/%m/%Y %H:%M'.")
@click.option("--exclude", "excludes", multiple=True, metavar="COL=REGEX",
              help="Drop rows whose column matches a regular expression, e.g. InvoiceNo=^C (repeatable).")
@click.option("--format", "file_format", type=click.Choice(["csv", "parquet", "jsonl", "avro"]), default=None,
              help="File format (default: from the file).")
@click.option("--max-rejected", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Fail when more than this share of rows is rejected.")
@click.option("--job-name", default=None, help="Name of the import job (default: generated).")
@click.option("--fixed-timestamp", default=None, metavar="now|EPOCH",
              help="A file with no time column: every row gets this TIMESTAMP ('now' = the import time) and the rows "
                   "keep their file order.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def import_command(ctx, file, group, dataset_type, mode, maps, schema_file, delimiter, no_header, date_columns,
                   date_format, excludes, file_format, max_rejected, job_name, fixed_timestamp, as_json):
    """Import FILE (CSV/.gz, Parquet, JSON lines, Avro) into a dataset, atomically.

    \b
    Examples:
      python -m recsys import --group movies --type interactions --no-header \\
          --map 0=USER_ID --map 1=ITEM_ID --map 2=EVENT_VALUE --map 3=TIMESTAMP u.data
      python -m recsys import -g retail --type interactions --map CustomerID=USER_ID \\
          --map StockCode=ITEM_ID --map InvoiceDate=TIMESTAMP --date-column InvoiceDate \\
          --exclude InvoiceNo=^C --max-rejected 0.5 online_retail.csv.gz
      python -m recsys import -g music --type interactions --delimiter '\t' --map userID=USER_ID \
          --map artistID=ITEM_ID --map weight=EVENT_VALUE --fixed-timestamp now user_artists.dat
    """
    from recsys.exceptions import ImportFailed
    from recsys.ingest import import_file

    store = get_store(ctx)
    schema = Path(schema_file).read_text(encoding="utf-8") if schema_file else None
    show = sys.stderr.isatty() and not as_json

    def progress(done, total):
        if show:
            click.echo(f"\r  {done:,} rows read" + (f" of {total:,}" if total else ""), nl=False, err=True)

    try:
        job = import_file(
            store, group, dataset_type, file, mode=mode.upper(), column_map=_pairs(maps, "--map"),
            date_columns=date_columns, date_format=date_format, exclude=_pairs(excludes, "--exclude"),
            schema=schema, file_format=file_format, delimiter=delimiter, header=not no_header,
            max_rejected_fraction=max_rejected, progress=progress, job_name=job_name,
            fixed_timestamp=int(time.time()) if str(fixed_timestamp).lower() == "now" else fixed_timestamp)
    except ImportFailed as exc:
        if show:
            click.echo("", err=True)
        message = str(exc).replace("(max_rejected_fraction)", "(--max-rejected)")
        if exc.job is not None and exc.job.rejects_path:
            message += f" Rejected rows: {exc.job.rejects_path}"
        raise click.ClickException(message) from exc
    if show:
        click.echo("", err=True)
    if as_json:
        echo_json(job.to_dict())
        return
    click.echo(f"Imported {file} into {group}/{job.dataset_type} ({job.mode}): {job.rows_accepted:,} rows accepted, "
               f"{job.rows_rejected:,} rejected, {job.rows_excluded:,} excluded in {job.seconds:.1f} s "
               f"(job {job.name}).")
    if job.rejects_path:
        click.echo(f"Rejected rows (row, field, reason): {job.rejects_path}")
    if job.ignored_columns:
        click.echo(f"Ignored columns (not in the schema): {', '.join(job.ignored_columns)}")


@main.command("datasets")
@group_option(help="Dataset group.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def datasets_command(ctx, group, as_json):
    """List a group's datasets with their fields and row counts (bulk and streamed).

    \b
    Example:
      python -m recsys datasets --group demo
      python -m recsys datasets --group demo --json
    """
    from recsys.datasets import count_rows, list_datasets

    store = get_store(ctx)
    rows = []
    for ds in list_datasets(store, group):
        schema = ds["schema"]
        rows.append({"datasetType": schema.dataset_type, "fields": list(schema.names),
                     **count_rows(store, group, schema.dataset_type)})
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(f"Dataset group {group!r} has no datasets yet; import a file with `recsys import`.")
    for r in rows:
        click.echo(f"{r['datasetType']:<13} {r['total']:>10,} rows ({r['bulk']:,} bulk, {r['stream']:,} streamed)  "
                   f"fields: {', '.join(r['fields'])}")


@main.command("create-tracker")
@group_option(help="Dataset group.")
@click.option("--name", default=None, help="Tracker name (default: <group>-tracker).")
@click.pass_context
def create_tracker_command(ctx, group, name):
    """Create the group's event tracker and print its trackingId.

    \b
    Example:
      python -m recsys create-tracker --group demo
    """
    from recsys.events import create_event_tracker

    tracker = create_event_tracker(get_store(ctx), group, name or f"{group}-tracker")
    click.echo(tracker["trackingId"])


@main.command("put-events")
@click.option("--tracking-id", required=True, help="The event tracker's trackingId.")
@click.option("--session-id", required=True, help="Session id (the user id of anonymous events).")
@click.option("--user-id", default=None, help="User id (stitches the session's earlier anonymous events).")
@click.argument("events_json")
@click.pass_context
def put_events_command(ctx, tracking_id, session_id, user_id, events_json):
    """Record events: EVENTS_JSON is a JSON list of Personalize events (or - to read it from stdin).

    \b
    Example:
      python -m recsys put-events --tracking-id T --session-id s1 --user-id u1 \\
          '[{"eventType": "click", "itemId": "i1", "sentAt": 1700000000}]'
    """
    from recsys.events import put_events
    from recsys.exceptions import ValidationError

    text = sys.stdin.read() if events_json == "-" else events_json
    try:
        event_list = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"EVENTS_JSON is not valid JSON ({exc.msg} at column {exc.colno}).") from None
    if isinstance(event_list, dict):
        event_list = [event_list]
    result = put_events(get_store(ctx), tracking_id, session_id, user_id, event_list)
    click.echo(f"Recorded {result['recorded']} event(s); {result['duplicates']} duplicate(s) ignored; "
               f"{result['stitched']} earlier anonymous event(s) attributed to the user.")
