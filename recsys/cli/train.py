"""CLI commands for training and using models: train, metrics, compare, recommend, rank, similar, batch jobs."""

from __future__ import annotations

import sys
import time

import click

from recsys.cli import echo_json, get_store, group_option, main
from recsys.resources import SolutionVersion

_PERCENT_KEYS_FIRST = (
    "normalized_discounted_cumulative_gain_at_10", "normalized_discounted_cumulative_gain_at_5",
    "normalized_discounted_cumulative_gain_at_25", "mean_reciprocal_rank_at_25", "precision_at_5",
    "precision_at_10", "precision_at_25", "coverage",
)


def _parse_params(pairs) -> dict:
    params = {}
    for pair in pairs:
        if "=" not in pair:
            raise click.BadParameter(f"{pair!r} is not key=value; e.g. --param factors=64", param_hint="--param")
        key, value = pair.split("=", 1)
        params[key.strip()] = value.strip()
    return params


def _progress_printer():
    """A progress(stage, percent, eta) callback printing one updating line on stderr."""
    last = {"time": 0.0, "stage": None}
    tty = sys.stderr.isatty()

    def show(stage, percent, eta):
        now = time.monotonic()
        if stage == last["stage"] and now - last["time"] < (0.2 if tty else 10.0):
            return
        last.update(time=now, stage=stage)
        eta_text = f", about {eta:.0f} s left" if eta else ""
        pct = "" if percent is None else f"{percent:5.1f}% "
        line = f"{pct}{stage}{eta_text}"
        click.echo(("\r" + line.ljust(60)) if tty else line, err=True, nl=not tty)

    return show


def _version(store, group, solution, version):
    from recsys.solutions import resolve_version

    return resolve_version(store, group, solution, version)


@main.command("train")
@group_option(help="Dataset group to train on.")
@click.option("--solution", "-s", required=True, help="Solution name (created if it does not exist).")
@click.option("--recipe", "-r", default=None, help="Recipe, e.g. aws-user-personalization (needed for a new solution).")
@click.option("--param", "-p", "params", multiple=True, help="Hyperparameter key=value (repeatable).")
@click.option("--event-type", default=None, help="Train only on events of this EVENT_TYPE.")
@click.option("--event-value-threshold", type=float, default=None,
              help="Train only on events with EVENT_VALUE >= this.")
@click.option("--hpo", is_flag=True, help="Tune hyperparameters first (a new solution only).")
@click.option("--max-trials", type=click.IntRange(1, 40), default=None, help="HPO trials (maxNumberOfTrainingJobs).")
@click.option("--objective", default=None, help="HPO objective metric (default NDCG@10).")
@click.option("--mode", "training_mode", type=click.Choice(["FULL", "UPDATE"], case_sensitive=False), default="FULL",
              show_default=True, help="UPDATE folds new items/interactions into the newest FULL version.")
@click.option("--engine", type=click.Choice(["local", "spark", "auto"]), default=None,
              help="Where to train: this machine, Apache Spark, or auto (Spark above the workspace's threshold); "
                   "default: the workspace's engine setting, else local.")
@click.option("--spark-master", default=None, help="Spark master: local[*], local[2], spark://host:7077, yarn.")
@click.option("--spark-conf", multiple=True,
              help="Spark setting key=value (repeatable), e.g. spark.executor.memory=8g; also engine options "
                   "recency_half_life_days, max_eval_users, max_items_per_user, als_alpha.")
@click.option("--source", default=None, help="Train on this Parquet location (local or s3://) instead of the workspace.")
@click.option("--json", "as_json", is_flag=True, help="Print the finished solution version as JSON.")
@click.pass_context
def train_command(ctx, group, solution, recipe, params, event_type, event_value_threshold, hpo, max_trials,
                  objective, training_mode, engine, spark_master, spark_conf, source, as_json):
    """Train a solution version (synchronously) and print its ARN.

    \b
    Example:
      python -m recsys train --group demo --recipe aws-user-personalization --solution up -p factors=64
      python -m recsys train --group demo --recipe aws-sims --solution sims --event-type purchase
      python -m recsys train --group demo --solution up --mode UPDATE
      python -m recsys train --group demo --solution up --engine spark --spark-master local[*]
    """
    from recsys.exceptions import NotFoundError
    from recsys.store import ACTIVE
    from recsys.runs import create_solution_version
    from recsys.solutions import create_solution, get_solution

    store = get_store(ctx)
    parsed = _parse_params(params)
    try:
        existing = get_solution(store, group, solution)
    except NotFoundError:
        existing = None
    if existing is None:
        if not recipe:
            raise click.UsageError(f"Solution {solution!r} does not exist yet; pass --recipe to create it.")
        hpo_config = None
        if hpo:
            hpo_config = {k: v for k, v in (("max_trials", max_trials), ("objective", objective)) if v is not None}
        create_solution(store, group, solution, recipe, params=parsed, event_type=event_type,
                        event_value_threshold=event_value_threshold, perform_hpo=hpo, hpo_config=hpo_config)
    else:
        changed = [flag for flag, given in (("--recipe", recipe and recipe != existing.recipe),
                                             ("--param", parsed), ("--event-type", event_type),
                                             ("--event-value-threshold", event_value_threshold is not None),
                                             ("--hpo", hpo)) if given]
        if changed:
            raise click.UsageError(
                f"Solution {solution!r} already exists (recipe {existing.recipe}); {', '.join(changed)} only "
                "apply to a new solution. Pick a new --solution name or drop those options."
            )
    spark_options = {k: v for k, v in (("master", spark_master), ("source", source)) if v}
    if spark_conf:  # spark.* settings go to the session; other keys are engine options (recency_half_life_days...)
        pairs = _parse_params(spark_conf)
        spark_options["conf"] = {k: v for k, v in pairs.items() if k.startswith("spark.")}
        spark_options.update({k: v for k, v in pairs.items() if not k.startswith("spark.")})
    if spark_options and engine in (None, "local"):
        engine = "spark" if engine is None else engine
    version = create_solution_version(store, group, solution, training_mode=training_mode.upper(), wait=True,
                                      progress=None if as_json else _progress_printer(),
                                      engine={"name": engine, **spark_options} if engine else None)
    if not as_json and sys.stderr.isatty():
        click.echo("", err=True)
    if as_json:
        echo_json(version)
    if version.status != ACTIVE:
        raise click.ClickException(f"Training ended {version.status}: {version.failure_reason or 'stopped'}")
    if not as_json:
        metrics = version.metrics or {}
        ndcg = metrics.get("normalized_discounted_cumulative_gain_at_10")
        extra = f", NDCG@10 {ndcg:.4f}" if ndcg is not None else ""
        click.echo(f"Trained in {version.training_seconds:.1f} s, peak memory {version.peak_memory_mb:.0f} MB"
                   f"{extra}.", err=True)
        click.echo(version.arn)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


@main.command("engine")
@click.option("--default", "default", type=click.Choice(["local", "spark", "auto"]), default=None,
              help="Engine of new versions that do not ask for one (auto: Spark above --spark-above interactions).")
@click.option("--spark-above", type=click.IntRange(0), default=None,
              help="With auto: train on Spark when the group has more interactions than this.")
@click.option("--spark-master", default=None, help="Default Spark master: local[2], spark://host:7077, yarn.")
@click.option("--spark-conf", multiple=True, help="Default Spark setting key=value (repeatable).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def engine_command(ctx, default, spark_above, spark_master, spark_conf, as_json):
    """Show or change the workspace's default training engine (its settings table, key "engine").

    \b
    Example:
      python -m recsys engine
      python -m recsys engine --default auto --spark-above 20000000 --spark-master yarn
    """
    from recsys.spark import read_engine_config, write_engine_config

    store = get_store(ctx)
    changes = {"default": default, "spark_above_interactions": spark_above, "spark_master": spark_master,
               "spark_conf": _parse_params(spark_conf) if spark_conf else None}
    config = (write_engine_config(store, **changes) if any(v is not None for v in changes.values())
              else read_engine_config(store))
    if as_json:
        echo_json(config)
        return
    rule = {"local": "every version trains on this machine", "spark": "every version trains on Spark",
            "auto": f"Spark above {config['spark_above_interactions']:,} interactions, else this machine"}
    click.echo(f"Default engine: {config['default']} ({rule[config['default']]}); Spark master "
               f"{config['spark_master']}" + (f", conf {config['spark_conf']}" if config["spark_conf"] else "") + ".")


@main.command("metrics")
@group_option()
@click.option("--solution", "-s", required=True)
@click.option("--version", "-v", default=None, help="Version id or ARN (default: newest ACTIVE).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def metrics_command(ctx, group, solution, version, as_json):
    """Offline metrics of a solution version (Personalize GetSolutionMetrics).

    \b
    Example:
      python -m recsys metrics --group demo --solution up
    """
    from recsys.solutions import get_solution_metrics

    store = get_store(ctx)
    v = _version(store, group, solution, version)
    result = get_solution_metrics(store, v.arn)
    if as_json:
        echo_json({**result, "autoTune": v.auto_tune} if v.auto_tune else result)
        return
    click.echo(result["solutionVersionArn"])
    if result.get("protocol"):
        click.echo(f"Protocol: {result['protocol']}")
    if not result["metrics"]:
        click.echo(f"No metrics{': ' + v.evaluation_error if v.evaluation_error else ''}.")
    width = max((len(k) for k in result["metrics"]), default=0)
    for key, value in result["metrics"].items():
        click.echo(f"  {key.ljust(width)}  {_fmt(value)}")
    _echo_auto_tune(v)


def _echo_auto_tune(version) -> None:
    """How the recipe chose its own settings on a validation split, when it did (e.g. aws-user-personalization)."""
    from recsys.recipes.auto_tune import choice_lines

    lines = choice_lines(version.auto_tune)
    if lines:
        click.echo("Settings chosen by the recipe:")
        for line in lines:
            click.echo(f"  {line}")


@main.command("compare")
@group_option()
@click.option("--metric", default="normalized_discounted_cumulative_gain_at_10", show_default=True,
              help="The metric of the verdicts (versions of recipe types without it use their own).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def compare_command(ctx, group, metric, as_json):
    """All ACTIVE solution versions of a group side by side, with Personalize metric names, then one verdict per
    pair of versions of the same recipe type and protocol (who wins, by how much, paired bootstrap p-value).

    Compare only versions trained on the same data (see the interactions row); a popularity-count solution,
    if there is one, is the baseline.

    \b
    Example:
      python -m recsys compare --group demo
    """
    from recsys.store import ACTIVE
    from recsys.solutions import list_solution_versions

    store = get_store(ctx)
    versions = [v for v in list_solution_versions(store, group) if v.status == ACTIVE]
    rows = []
    for v in versions:
        rows.append({
            "version": v.name, "arn": v.arn, "recipe": v.recipe,
            "baseline": v.recipe == "aws-popularity-count",
            "interactions": (v.data or {}).get("interactions"),
            "training_seconds": v.training_seconds, "peak_memory_mb": v.peak_memory_mb,
            "metrics": v.metrics or {},
        })
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(f"No ACTIVE solution versions in {group!r}; train one with `python -m recsys train`.")
        return
    keys = [k for k in _PERCENT_KEYS_FIRST if any(k in r["metrics"] for r in rows)]
    keys += sorted({k for r in rows for k in r["metrics"]} - set(keys))
    labels = ["version", "recipe", "interactions", "training_seconds", "peak_memory_mb", *keys]
    width = max(len(label) for label in labels)
    table = []
    for label in labels:
        cells = []
        for r in rows:
            value = r["metrics"].get(label) if label in keys else r.get(label)
            text = "" if value is None else _fmt(value)
            if label == "recipe" and r["baseline"]:
                text += " (baseline)"
            cells.append(text)
        table.append((label, cells))
    col = max(max(len(c) for _, cells in table for c in cells), 8)
    for label, cells in table:
        click.echo(label.ljust(width) + "  " + "  ".join(c.rjust(col) for c in cells))
    if len({r["interactions"] for r in rows}) > 1:
        click.echo("Note: these versions were trained on different data (see interactions); compare like with like.")
    from recsys.workspace import compare_versions

    for comparison in compare_versions(store, [r["arn"] for r in rows], metric):
        click.echo(f"\n{comparison.title} ({comparison.protocol})")
        for verdict in comparison.verdicts["verdict"]:
            click.echo(f"  {verdict}")


def _show_items(result: dict, key: str, as_json: bool) -> None:
    if as_json:
        echo_json(result)
        return
    for rank, entry in enumerate(result[key], start=1):
        score = entry.get("score")
        click.echo(f"{rank:3d}  {entry['itemId']}" + (f"  {score:.6f}" if score is not None else ""))


def _target(store, group, solution, version, campaign) -> tuple[str, SolutionVersion | None]:
    """(ARN to answer from, the version when answering from one directly): both go through recsys.serving."""
    if campaign:
        from recsys.campaigns import get_campaign

        return get_campaign(store, campaign, group=group).arn, None
    if not solution:
        raise click.UsageError("Pass --solution (direct from a trained version) or --campaign (through the API path).")
    v = _version(store, group, solution, version)
    return v.arn, v


def _show_answer(result: dict, key: str, version: SolutionVersion | None, as_json: bool) -> None:
    if version is not None:
        result = {"solutionVersionArn": version.arn, **result}
    _show_items(result, key, as_json)


def _model_options(fn):
    """--solution/--version (direct from a trained version) or --campaign (the API's code path)."""
    fn = click.option("--campaign", "-c", default=None,
                      help="Answer through a campaign, exactly as the HTTP API would (filters, exploration...).")(fn)
    fn = click.option("--version", "-v", default=None, help="Version id or ARN (default: newest ACTIVE).")(fn)
    fn = click.option("--solution", "-s", default=None, help="Solution to answer from directly (no campaign).")(fn)
    return group_option()(fn)


@main.command("recommend")
@_model_options
@click.option("--user", "-u", "user_id", required=True)
@click.option("--num", "-n", "num_results", type=click.IntRange(1, 500), default=25, show_default=True)
@click.option("--exclude-seen", is_flag=True, help="Drop items the user interacted with (the campaign config "
              "excludeSeenItems; Personalize keeps them unless a filter removes them).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def recommend_command(ctx, group, solution, version, campaign, user_id, num_results, exclude_seen, as_json):
    """Recommend items for a user, from a trained solution version or through a campaign.

    Both answer as the HTTP API does; a version is served with a campaign's default config.

    \b
    Example:
      python -m recsys recommend --group demo --solution up --user u0042 -n 10
      python -m recsys recommend --group demo --campaign shop --user u0042
    """
    from recsys.serving import get_recommendations

    store = get_store(ctx)
    arn, v = _target(store, group, solution, version, campaign)
    result = get_recommendations(store, arn, user_id=str(user_id), num_results=num_results,
                                 campaign_config={"excludeSeenItems": "true"} if exclude_seen else None)
    _show_answer(result, "itemList", v, as_json)


@main.command("rank")
@_model_options
@click.option("--user", "-u", "user_id", required=True)
@click.option("--items", "-i", required=True, help="Comma-separated item ids to rank.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def rank_command(ctx, group, solution, version, campaign, user_id, items, as_json):
    """Rank a list of items for a user (scores sum to 1 over the list; unknown items last with score 0).

    \b
    Example:
      python -m recsys rank --group demo --solution ranking --user u0042 --items i0001,i0002,i0003
    """
    from recsys.serving import get_personalized_ranking

    store = get_store(ctx)
    arn, v = _target(store, group, solution, version, campaign)
    result = get_personalized_ranking(store, arn, user_id=str(user_id),
                                      input_list=[i.strip() for i in items.split(",") if i.strip()])
    _show_answer(result, "personalizedRanking", v, as_json)


@main.command("similar")
@_model_options
@click.option("--item", "-i", "item_id", required=True)
@click.option("--num", "-n", "num_results", type=click.IntRange(1, 500), default=25, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def similar_command(ctx, group, solution, version, campaign, item_id, num_results, as_json):
    """Items related to an item (RELATED_ITEMS recipes such as aws-sims).

    \b
    Example:
      python -m recsys similar --group demo --solution sims --item i0001 -n 10
    """
    from recsys.recipes import RELATED_ITEMS
    from recsys.serving import get_recommendations

    store = get_store(ctx)
    arn, v = _target(store, group, solution, version, campaign)
    if v is not None and v.recipe_type != RELATED_ITEMS:
        raise click.ClickException(f"{v.recipe} does not recommend related items; use a RELATED_ITEMS recipe "
                                   "such as aws-sims.")
    result = get_recommendations(store, arn, item_id=str(item_id), num_results=num_results)
    _show_answer(result, "itemList", v, as_json)


def _job_progress(as_json: bool):
    if as_json:
        return None

    def show(done, total):
        click.echo(f"{done:,}/{total:,} lines", err=True)

    return show


def _job_name(prefix: str) -> str:
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"


@main.command("batch-recommend")
@group_option()
@click.option("--solution", "-s", required=True)
@click.option("--input", "input_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False))
@click.option("--num-results", type=click.IntRange(1, 500), default=25, show_default=True)
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None,
              help="Also write USER_ID,RANK,ITEM_ID,SCORE (+ --item-columns) for marketing tools.")
@click.option("--item-columns", default="", help="Comma-separated Items columns for the CSV.")
@click.option("--filter", "filter_name", default=None, help="Name of a filter of the group.")
@click.option("--names", is_flag=True, help="Add ITEM_NAME (the group's display column) to the CSV.")
@click.option("--version", "-v", default=None)
@click.option("--job-name", default=None, help="Job name; reuse it to resume an interrupted job.")
@click.option("--engine", type=click.Choice(["local", "spark"]), default="local", show_default=True,
              help="Score on this machine or on Apache Spark (for millions of users).")
@click.option("--spark-master", default=None, help="Spark master for --engine spark (default local[2]).")
@click.option("--spark-conf", multiple=True, help="Spark setting key=value (repeatable).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def batch_recommend_command(ctx, group, solution, input_path, output_path, num_results, csv_path, item_columns,
                            filter_name, names, version, job_name, engine, spark_master, spark_conf, as_json):
    """Batch inference: JSON lines in, JSON lines out (Personalize's format), optionally a CSV.

    \b
    Example:
      python -m recsys batch-recommend --group demo --solution up --input users.jsonl --output recs.jsonl \\
          --num-results 10 --csv recs.csv --item-columns CATEGORY_L1,PRICE
    """
    from recsys.serving import create_batch_inference_job

    store = get_store(ctx)
    v = _version(store, group, solution, version)
    filter_arn = store.get_resource("filter", group, filter_name)["arn"] if filter_name else None
    columns = [c.strip() for c in item_columns.split(",") if c.strip()]
    if engine == "spark":
        from recsys.spark import batch_inference

        if names:
            raise click.UsageError("--names is not available with --engine spark; drop it or use --engine local.")
        job = batch_inference(store, group, job_name or _job_name(solution), v.arn, input_path, output_path,
                              num_results=num_results, filter_arn=filter_arn, csv_path=csv_path,
                              item_columns=columns, master=spark_master, conf=_parse_params(spark_conf))
        return _report_job(job, as_json)
    job = create_batch_inference_job(
        store, group, job_name or _job_name(solution), v.arn, input_path, output_path, num_results=num_results,
        filter_arn=filter_arn, csv_path=csv_path, item_columns=columns, progress=_job_progress(as_json),
        with_names=names,
    )
    _report_job(job, as_json)


@main.command("batch-segment")
@group_option()
@click.option("--solution", "-s", required=True)
@click.option("--input", "input_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False))
@click.option("--num-results", type=click.IntRange(1, 5_000_000), default=25, show_default=True,
              help="Users per segment.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None,
              help="Also write SEGMENT,RANK,USER_ID + user attributes for marketing tools.")
@click.option("--user-columns", default=None, help="Comma-separated Users columns for the CSV (default: all).")
@click.option("--filter", "filter_name", default=None, help="Name of a UserID filter of the group.")
@click.option("--exclude-interacted", is_flag=True,
              help="Leave out the users who already interacted with the segment's item(s).")
@click.option("--names", is_flag=True, help="Add ITEM_NAME and SCORE to the CSV.")
@click.option("--version", "-v", default=None)
@click.option("--job-name", default=None, help="Job name; reuse it to resume an interrupted job.")
@click.option("--engine", type=click.Choice(["local", "spark"]), default="local", show_default=True,
              help="Run on this machine or on Apache Spark.")
@click.option("--spark-master", default=None, help="Spark master for --engine spark (default local[2]).")
@click.option("--spark-conf", multiple=True, help="Spark setting key=value (repeatable).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def batch_segment_command(ctx, group, solution, input_path, output_path, num_results, csv_path, user_columns,
                          filter_name, exclude_interacted, names, version, job_name, engine, spark_master, spark_conf,
                          as_json):
    """Batch segments: users most likely to interact with an item or item attributes (USER_SEGMENTATION).

    \b
    Example:
      python -m recsys batch-segment --group demo --solution affinity --input items.jsonl --output seg.jsonl \\
          --csv seg.csv --exclude-interacted --names
    """
    from recsys.serving import create_batch_segment_job

    store = get_store(ctx)
    v = _version(store, group, solution, version)
    columns = None if user_columns is None else [c.strip() for c in user_columns.split(",") if c.strip()]
    if engine == "spark":
        from recsys.spark import batch_segments

        if filter_name or exclude_interacted or names:
            raise click.UsageError("--filter, --exclude-interacted and --names are not available with --engine "
                                   "spark; drop them or use --engine local.")
        job = batch_segments(store, group, job_name or _job_name(solution), v.arn, input_path, output_path,
                             num_results=num_results, csv_path=csv_path, user_columns=columns, master=spark_master,
                             conf=_parse_params(spark_conf))
        return _report_job(job, as_json)
    job = create_batch_segment_job(
        store, group, job_name or _job_name(solution), v.arn, input_path, output_path, num_results=num_results,
        csv_path=csv_path, user_columns=columns, progress=_job_progress(as_json),
        filter_arn=store.get_resource("filter", group, filter_name)["arn"] if filter_name else None,
        exclude_interacted=exclude_interacted, with_names=names, with_scores=names,
    )
    _report_job(job, as_json)


def _report_job(job, as_json: bool) -> None:
    if as_json:
        echo_json(job)
        return
    failed = job.lines_failed or 0
    note = f", {failed:,} with errors (see their \"error\" field)" if failed else ""
    click.echo(f"Wrote {job.lines_done:,} lines to {job.output_path}{note} in {job.seconds:.1f} s.")
    if job.csv_path:
        click.echo(f"CSV: {job.csv_path} ({job.csv_rows or 0:,} rows).")
    if job.resumed_from:
        click.echo(f"Resumed after line {job.resumed_from:,}.")
