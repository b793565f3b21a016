"""Data locations of import and batch jobs: `s3://bucket/key` and prefixes through boto3's S3 client, `file://`
URLs and plain local paths.

Example::

    with staged_input(store, "s3://my-bucket/interactions/") as path:     # a local file to read
        import_file(store, "shop", "Interactions", path)
    publish(store, "recs.jsonl", "s3://my-bucket/out/", name="users.json.out")

S3 is reached with the endpoint and credentials in the workspace settings (`s3.endpoint_url`, `s3.region`,
`s3.access_key_id`, `s3.secret_access_key`), else boto3's standard chain: `AWS_ENDPOINT_URL_S3` /
`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`, `~/.aws`, instance roles. So it works against
AWS S3 and any S3-compatible store (MinIO, moto, Ceph). A prefix (a location ending in `/`, or one that names no
object) means every object under it, as Personalize reads a folder: CSV files are joined (one header), other
formats must be a single file.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlparse

from recsys.exceptions import NotFoundError, ValidationError
from recsys.files import atomic_path

SETTINGS = ("s3.endpoint_url", "s3.region", "s3.access_key_id", "s3.secret_access_key")


def is_s3(location: str) -> bool:
    return str(location).startswith("s3://")


def split_s3(location: str) -> tuple[str, str]:
    """(bucket, key or prefix) of an `s3://` location; ValidationError when it names no bucket."""
    parsed = urlparse(str(location))
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValidationError(f"{location!r} is not an S3 location: use s3://bucket/key or s3://bucket/prefix/.")
    return parsed.netloc, parsed.path.lstrip("/")


def local_path(location: str) -> Path:
    """The local path of a `file://` URL or plain path."""
    text = str(location)
    if text.startswith("file://"):
        parsed = urlparse(text)
        return Path(unquote(parsed.path))
    if "://" in text:
        raise ValidationError(f"Unsupported data location {text!r}: use s3://bucket/key, file:///path or a local path.")
    return Path(text)


def s3_client(store=None):
    """boto3's S3 client with the workspace's endpoint and credentials (or boto3's standard chain)."""
    import boto3
    from botocore.config import Config

    settings = {key: store.setting(key) for key in SETTINGS} if store is not None else {}
    options = {"config": Config(retries={"max_attempts": 3, "mode": "standard"})}
    if settings.get("s3.endpoint_url"):
        options["endpoint_url"] = settings["s3.endpoint_url"]
    if settings.get("s3.region"):
        options["region_name"] = settings["s3.region"]
    if settings.get("s3.access_key_id") and settings.get("s3.secret_access_key"):
        options["aws_access_key_id"] = settings["s3.access_key_id"]
        options["aws_secret_access_key"] = settings["s3.secret_access_key"]
    return boto3.session.Session().client("s3", **options)


def _s3_error(exc: Exception, location: str) -> Exception:
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "NoSuchBucket", "404"):
            return NotFoundError(f"{location} does not exist ({code}); check the bucket and key.")
        return ValidationError(f"Cannot reach {location}: {code or 'error'}: "
                               f"{exc.response.get('Error', {}).get('Message', '')}".rstrip(": "))
    if isinstance(exc, BotoCoreError):
        return ValidationError(f"Cannot reach {location}: {exc}. Check the S3 endpoint and credentials "
                               "(workspace settings s3.endpoint_url, s3.access_key_id, or AWS_* variables).")
    return exc


def _objects(client, bucket: str, key: str) -> list[str]:
    """The object `key`, or every object under it as a prefix (sorted, folder markers skipped)."""
    if key and not key.endswith("/"):
        try:
            client.head_object(Bucket=bucket, Key=key)
            return [key]
        except Exception as exc:  # noqa: BLE001 - not an object: try it as a prefix below
            from botocore.exceptions import ClientError

            if not isinstance(exc, ClientError):
                raise
    prefix = key if not key or key.endswith("/") else key + "/"
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", []) if not o["Key"].endswith("/")]
    return sorted(keys)


def _join_files(parts: list[Path], target: Path, location: str) -> Path:
    """One file from several: CSV parts are joined under the first part's header; other formats refuse."""
    if len(parts) == 1:
        return parts[0]
    suffixes = {p.name.lower().removesuffix(".gz").rsplit(".", 1)[-1] for p in parts}
    if suffixes != {"csv"} or any(p.name.lower().endswith(".gz") for p in parts):
        raise ValidationError(f"{location} holds {len(parts)} files ({', '.join(p.name for p in parts[:5])}); "
                              "several files are joined only when all are plain .csv; import the others one by one.")
    with open(target, "wb") as out:
        header = None
        for part in parts:
            with open(part, "rb") as fh:
                first = fh.readline()
                if header is None:
                    header = first
                    out.write(first if first.endswith(b"\n") else first + b"\n")
                elif first.strip() != header.strip():
                    raise ValidationError(f"{part.name} in {location} has another header than {parts[0].name}; "
                                          "files imported together need the same columns.")
                shutil.copyfileobj(fh, out)
            if _last_byte(part) not in (b"", b"\n"):  # a part without a final newline
                out.write(b"\n")
    return target


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as fh:
        if fh.seek(0, 2) == 0:
            return b""
        fh.seek(-1, 2)
        return fh.read(1)


@contextlib.contextmanager
def staged_input(store, location: str) -> Iterator[Path]:
    """A local file holding the data at `location` (downloaded to a temporary directory for S3, removed on exit).

    NotFoundError when nothing is there; ValidationError for a location that cannot be read.
    """
    if not is_s3(location):
        path = local_path(location)
        if path.is_dir():
            with tempfile.TemporaryDirectory(prefix="recsys-input-") as tmp:
                parts = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
                if not parts:
                    raise NotFoundError(f"{location} is an empty folder; put the data files in it.")
                yield _join_files(parts, Path(tmp) / "joined.csv", location)
            return
        if not path.is_file():
            raise NotFoundError(f"{location} does not exist; give an s3:// location, a file:// URL or a local path.")
        yield path
        return
    bucket, key = split_s3(location)
    client = s3_client(store)
    with tempfile.TemporaryDirectory(prefix="recsys-input-") as tmp:
        try:
            keys = _objects(client, bucket, key)
            if not keys:
                raise NotFoundError(f"{location} holds no objects; upload the data there first.")
            parts = []
            for i, object_key in enumerate(keys):
                part = Path(tmp) / f"{i:05d}-{Path(object_key).name}"
                client.download_file(bucket, object_key, str(part))
                parts.append(part)
        except (NotFoundError, ValidationError):
            raise
        except Exception as exc:
            raise _s3_error(exc, location) from exc
        yield _join_files(parts, Path(tmp) / "joined.csv", location)


def output_location(destination: str, name: str) -> str:
    """Where a job writes `name` under `destination`: a folder (`s3://b/out/`, a directory) gets `name` in it."""
    if is_s3(destination):
        return destination + name if destination.endswith("/") else destination + "/" + name
    path = local_path(destination)
    return str(path / name) if str(destination).endswith("/") or path.is_dir() else str(path)


def publish(store, source: Path, location: str) -> str:
    """Copy the local file `source` to `location` (an S3 key or a local path); returns where it went."""
    if is_s3(location):
        bucket, key = split_s3(location)
        try:
            s3_client(store).upload_file(str(source), bucket, key)
        except Exception as exc:
            raise _s3_error(exc, location) from exc
        return location
    target = local_path(location)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    return str(target)
