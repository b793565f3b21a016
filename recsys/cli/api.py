"""CLI commands `serve` (the Personalize-compatible HTTP API) and `keys create|list|delete` (its SigV4 keys)."""

import copy

import click

from recsys.cli import echo_json, get_store, main


def _log_config(log_level: str, access_log: bool) -> dict:
    """uvicorn's logging set-up plus our JSON access lines (one per request, on stdout)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["json_lines"] = {"format": "%(message)s"}
    config["handlers"]["json_access"] = {
        "class": "logging.StreamHandler",
        "formatter": "json_lines",
        "stream": "ext://sys.stdout",
    }
    config["loggers"]["recsys"] = {"handlers": ["default"], "level": log_level.upper(), "propagate": False}
    config["loggers"]["recsys.api.access"] = {
        "handlers": ["json_access"] if access_log else [],
        "level": "INFO" if access_log else "WARNING",
        "propagate": False,
    }
    return config


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes (each keeps its own model cache and metrics).")
@click.option("--max-body-bytes", default=1024 * 1024, show_default=True, type=click.IntRange(1024),
              help="Largest request body accepted; larger ones get 400 InvalidInputException.")
@click.option("--threads", default=40, show_default=True, type=click.IntRange(1, 1000),
              help="Requests served at once per worker (the others queue).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@click.option("--no-access-log", is_flag=True, help="Do not write the JSON access line of each request.")
@click.pass_context
def serve_command(ctx, host, port, workers, max_body_bytes, threads, log_level, no_access_log):
    """Serve the workspace over Personalize's wire protocol (personalize, personalize-runtime, personalize-events).

    Unmodified boto3 clients and the AWS CLI work with --endpoint-url pointed here, signing with a key
    from `keys create`. GET /health and GET /metrics (Prometheus) need no signature.

    \b
    Example:
      python -m recsys keys create --group demo
      python -m recsys serve --port 8080
      AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... AWS_DEFAULT_REGION=us-east-1 \\
        aws personalize-runtime get-recommendations --endpoint-url http://127.0.0.1:8080 \\
        --campaign-arn arn:aws:personalize:us-east-1:000000000000:campaign/main --user-id u1
    """
    import os

    import uvicorn

    from recsys.api import create_app, list_keys

    store = get_store(ctx)
    if not list_keys(store):
        click.echo("No API keys yet: every request will get 403. Create one with "
                   "`python -m recsys keys create --group NAME`.", err=True)
    click.echo(f"Serving workspace {store.home} on http://{host}:{port} (Ctrl+C to stop).", err=True)
    options = dict(host=host, port=port, log_config=_log_config(log_level, not no_access_log),
                   log_level=log_level, access_log=False, timeout_graceful_shutdown=30)
    if workers == 1:
        app = create_app(store, max_body_bytes=max_body_bytes, freeze_gc=True, worker_threads=threads)
        uvicorn.run(app, **options)
    else:
        from uvicorn.supervisors import Multiprocess

        os.environ["RECSYS_HOME"] = str(store.home)
        os.environ["RECSYS_API_MAX_BODY_BYTES"] = str(max_body_bytes)
        os.environ["RECSYS_API_THREADS"] = str(threads)
        config = uvicorn.Config("recsys.api:app_from_env", factory=True, workers=workers, **options)
        Multiprocess(config, sockets=[_tcp_listener(host, port)]).run()


def _tcp_listener(host: str, port: int):
    """The shared listening socket for worker processes, created as a *TCP* socket.

    uvicorn's own (`socket.socket(family)`) has protocol 0, so asyncio does not set TCP_NODELAY on accepted
    connections and every response waits ~40 ms for a delayed ACK (measured: 43 ms per /health call).
    """
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise click.ClickException(f"Cannot listen on {host}:{port}: {exc.strerror}.") from None
    sock.set_inheritable(True)
    return sock


@main.group("keys")
def keys_group():
    """Create, list and delete API access keys (SigV4), each scoped to dataset groups.

    \b
    Example:
      python -m recsys keys create --group demo
      python -m recsys keys list
    """


@keys_group.command("create")
@click.option("--group", "-g", "groups", multiple=True,
              help="Dataset group the key may read, write and manage (repeat for several).")
@click.option("--admin", is_flag=True,
              help="A workspace key: every group, and it may create and delete dataset groups and schemas.")
@click.option("--description", default="", help="A note on who uses the key.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def keys_create_command(ctx, groups, admin, description, as_json):
    """Create a key pair for GROUPs (or --admin for the whole workspace); the secret is shown only once.

    \b
    Example:
      python -m recsys keys create --group demo --group shop
      python -m recsys keys create --admin --json
    """
    from recsys.api import create_key

    if not groups and not admin:
        raise click.UsageError("Give --group NAME (repeat for several) or --admin.")
    access_key_id, secret = create_key(get_store(ctx), groups, description=description, admin=admin)
    if as_json:
        echo_json({"accessKeyId": access_key_id, "secretAccessKey": secret, "groups": sorted(set(groups)),
                   "admin": admin})
        return
    click.echo(f"AWS_ACCESS_KEY_ID={access_key_id}")
    click.echo(f"AWS_SECRET_ACCESS_KEY={secret}")
    scope = "the whole workspace (admin)" if admin else ", ".join(sorted(set(groups)))
    click.echo(f"# scoped to: {scope}. The secret is not shown again.", err=True)


@keys_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def keys_list_command(ctx, as_json):
    """List keys (ids and groups, never secrets), newest first.

    \b
    Example:
      python -m recsys keys list --json
    """
    from recsys.api import list_keys

    keys = list_keys(get_store(ctx))
    if as_json:
        echo_json(keys)
        return
    if not keys:
        click.echo("No API keys. Create one with `python -m recsys keys create --group NAME`.")
    for key in keys:
        note = f"  ({key['description']})" if key["description"] else ""
        scope = "admin (whole workspace)" if key.get("admin") else f"groups: {', '.join(key['groups'])}"
        click.echo(f"{key['accessKeyId']}  {scope}{note}")


@keys_group.command("delete")
@click.argument("access_key_id")
@click.pass_context
def keys_delete_command(ctx, access_key_id):
    """Revoke a key; a running server refuses it within 5 seconds.

    \b
    Example:
      python -m recsys keys delete RSKABCDEFGHIJKLMNOPQ
    """
    from recsys.api import delete_key

    delete_key(get_store(ctx), access_key_id)
    click.echo(f"Deleted key {access_key_id}.")


@main.group("config")
def config_group():
    """Workspace settings: where S3 data locations are read and written (endpoint, region, credentials).

    \b
    Settings: s3.endpoint_url, s3.region, s3.access_key_id, s3.secret_access_key. When unset, boto3's
    standard chain applies (AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, ~/.aws, ...).
    The workspace's ARN region and account are fixed at creation (RECSYS_REGION, RECSYS_ACCOUNT_ID).

    \b
    Example:
      python -m recsys config set s3.endpoint_url http://127.0.0.1:9000
      python -m recsys config get
    """


def _setting_name(name: str) -> str:
    from recsys.locations import SETTINGS

    if name not in SETTINGS:
        raise click.BadParameter(f"{name!r} is not a setting; use one of {', '.join(SETTINGS)}.", param_hint="NAME")
    return name


@config_group.command("set")
@click.argument("name")
@click.argument("value")
@click.pass_context
def config_set_command(ctx, name, value):
    """Set setting NAME to VALUE.

    \b
    Example:
      python -m recsys config set s3.region eu-west-1
    """
    get_store(ctx).set_setting(_setting_name(name), value)
    click.echo(f"Set {name}.")


@config_group.command("unset")
@click.argument("name")
@click.pass_context
def config_unset_command(ctx, name):
    """Remove setting NAME (boto3's standard chain applies again).

    \b
    Example:
      python -m recsys config unset s3.endpoint_url
    """
    get_store(ctx).set_setting(_setting_name(name), None)
    click.echo(f"Unset {name}.")


@config_group.command("get")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def config_get_command(ctx, as_json):
    """Show the workspace's region, account and S3 settings (the secret key is masked).

    \b
    Example:
      python -m recsys config get --json
    """
    from recsys.locations import SETTINGS

    store = get_store(ctx)
    values = {"region": store.region, "account": store.account}
    for name in SETTINGS:
        value = store.setting(name)
        values[name] = "****" if value and name.endswith("secret_access_key") else value
    if as_json:
        echo_json(values)
        return
    for name, value in values.items():
        click.echo(f"{name} = {value if value is not None else '(unset: boto3 default)'}")
