"""CLI commands `demo` (generate and load the demo data set) and `profile` (data profile of a group)."""

from pathlib import Path

import click

from recsys.cli import echo_json, get_store, group_option, main


@main.command("demo")
@click.option("--output", "-o", type=click.Path(file_okay=False), default="data/demo", show_default=True,
              help="Directory for the CSV files, Avro schemas, README.md and ground_truth.json.")
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed (same seed, same data).")
@click.option("--users", "n_users", type=click.IntRange(min=1), default=2000, show_default=True)
@click.option("--items", "n_items", type=click.IntRange(min=8), default=1000, show_default=True)
@click.option("--interactions", "n_interactions", type=click.IntRange(min=1), default=100_000, show_default=True)
@click.option("--load/--no-load", default=True, show_default=True,
              help="Also import the files into the workspace's dataset group.")
@click.option("--group", default="demo", show_default=True, help="Dataset group to load into.")
@click.option("--train/--no-train", default=False, show_default=True,
              help="Also train the demo solutions (popularity, personalization, similar items) and deploy a campaign.")
@click.option("--if-missing", is_flag=True, help="Do nothing when the workspace already has the group.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def demo_command(ctx, output, seed, n_users, n_items, n_interactions, load, group, train, if_missing, as_json):
    """Generate the seeded demo e-commerce data set and (by default) load it into a dataset group.

    \b
    Example:
      python -m recsys demo --seed 7 --output data/demo --group demo
      python -m recsys demo --no-load --output /tmp/demo
    """
    from recsys.demo import generate_demo, load_demo, write_demo
    from recsys.exceptions import NotFoundError

    if if_missing:
        try:
            get_store(ctx).get_dataset_group(group)
            click.echo(f"Dataset group '{group}' already exists; nothing to do (--if-missing).")
            return
        except NotFoundError:
            pass
    data = generate_demo(seed=seed, n_users=n_users, n_items=n_items, n_interactions=n_interactions)
    paths = write_demo(output, data)
    result = {
        "output": str(Path(output)),
        "files": {k: str(v) for k, v in paths.items() if k != "schemas"},
        "rows": {"Interactions": len(data.interactions), "Items": len(data.items), "Users": len(data.users)},
        "loaded": None,
    }
    if load:
        if train:
            from recsys.workspace import load_demo_workspace

            loaded = load_demo_workspace(get_store(ctx), group, output)
            result["versions"] = {k: {"arn": v.arn, "status": v.status} for k, v in loaded["versions"].items()}
        else:
            loaded = load_demo(get_store(ctx), group, output, write_if_missing=False)
        result["loaded"] = {"group": group, "imports": {k: _job_summary(v) for k, v in loaded["imports"].items()}}
    if as_json:
        echo_json(result)
        return
    rows = result["rows"]
    click.echo(f"Wrote {rows['Interactions']:,} interactions, {rows['Items']:,} items and {rows['Users']:,} "
               f"users to {output}/ (seed {seed}).")
    if load:
        accepted = ", ".join(f"{k} {v.get('rows_accepted', 0):,}" for k, v in result["loaded"]["imports"].items())
        click.echo(f"Loaded them into dataset group '{group}' ({accepted} rows accepted).")
        for name, version in (result.get("versions") or {}).items():
            click.echo(f"Trained solution {name!r}: {version.status} ({version.arn}).")
        click.echo(f"Next: python -m recsys profile --group {group}")
    else:
        click.echo("Not loaded (--no-load). Import later with: python -m recsys demo --group demo")


def _job_summary(job) -> dict:
    record = job.to_dict() if hasattr(job, "to_dict") else dict(job)
    keys = ("name", "status", "rows_accepted", "rows_rejected", "seconds")
    return {k: record[k] for k in keys if k in record}


@main.command("profile")
@group_option(help="Dataset group to profile.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole profile as JSON.")
@click.pass_context
def profile_command(ctx, group, as_json):
    """Show a data profile of a dataset group: counts, long tail, sparsity, cold items, minimums.

    \b
    Example:
      python -m recsys profile --group demo
      python -m recsys profile --group demo --json > profile.json
    """
    from recsys.profile import profile_group

    result = profile_group(get_store(ctx), group)
    if as_json:
        echo_json(result)
        return
    click.echo(format_profile(result))


def format_profile(p: dict) -> str:
    """A readable multi-line summary of a `recsys.profile.profile` result."""
    inter = p["interactions"]
    lines = [f"Dataset group: {p.get('group', '-')}", "",
             f"Interactions  {inter['rows']:,} rows, {inter['users']:,} users, {inter['items']:,} items"]
    tr = inter.get("time_range")
    if tr:
        lines.append(f"  time range  {tr['start']} .. {tr['end']} ({tr['days']:.1f} days)")
    if inter.get("event_types"):
        lines.append("  event types " + ", ".join(f"{k} {v:,}" for k, v in inter["event_types"].items()))
    if inter.get("sparsity") is not None:
        lines.append(f"  sparsity    {inter['sparsity']:.4%} ({inter['unique_user_item_pairs']:,} user-item pairs)")
    for key, label in (("per_user", "per user"), ("per_item", "per item")):
        q = inter[key]["quantiles"]
        if q:
            lines.append(f"  {label:<11} median {q['p50']:g}, p90 {q['p90']:g}, max {q['p100']:g}, "
                         f"mean {inter[key]['mean']:.1f}")
    share = inter["long_tail"]["interaction_share_of_top_items"]
    if share is not None:
        lines.append(f"  long tail   top 20% of items get {share:.1%} of interactions")
    missing = {k: v for k, v in inter["missing"].items() if v}
    if missing:
        lines.append("  missing     " + ", ".join(f"{k} {v:,}" for k, v in missing.items()))
    if "items" in p:
        it = p["items"]
        lines += ["", f"Items  {it['rows']:,} rows, {it['cold_items']:,} cold (no interactions)"]
        for field, mix in it.get("category_mix", {}).items():
            top = list(mix["items"].items())[:8]
            lines.append(f"  {field:<11} " + ", ".join(f"{k} {v:,}" for k, v in top))
    if "users" in p:
        us = p["users"]
        lines += ["", f"Users  {us['rows']:,} rows, {us['cold_users']:,} cold (no interactions)"]
    lines += ["", ("OK: " if p["minimums"]["ok"] else "NOT READY: ") + p["minimums"]["message"]]
    for warning in p.get("warnings") or []:
        lines += ["", "WARNING: " + warning["message"]]
        for item in (warning.get("items") or [])[:20]:
            lines.append(f"  {item['itemId']:<14} {item['interactions']:>8,}  " + "; ".join(item["reasons"]))
    return "\n".join(lines)
