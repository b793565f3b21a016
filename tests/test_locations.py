"""Data locations against a real S3-protocol server (moto, a subprocess on loopback) and the local disk."""

from __future__ import annotations

import uuid

import pytest

from recsys import locations
from recsys.exceptions import NotFoundError, ValidationError


def _bucket(s3) -> str:
    name = f"b-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def test_an_s3_object_is_staged_as_a_local_file_and_removed_after(s3):
    bucket = _bucket(s3)
    s3.put_object(Bucket=bucket, Key="in/users.csv", Body=b"USER_ID,AGE\nu1,30\n")
    with locations.staged_input(None, f"s3://{bucket}/in/users.csv") as path:
        assert path.read_bytes() == b"USER_ID,AGE\nu1,30\n"
    assert not path.exists()


def test_an_s3_prefix_joins_its_csv_files_under_one_header(s3):
    bucket = _bucket(s3)
    s3.put_object(Bucket=bucket, Key="in/part-2.csv", Body=b"USER_ID,AGE\nu2,40\n")
    s3.put_object(Bucket=bucket, Key="in/part-1.csv", Body=b"USER_ID,AGE\nu1,30")
    s3.put_object(Bucket=bucket, Key="in/", Body=b"")  # a folder marker, as consoles make
    for location in (f"s3://{bucket}/in/", f"s3://{bucket}/in"):
        with locations.staged_input(None, location) as path:
            assert path.read_text().splitlines() == ["USER_ID,AGE", "u1,30", "u2,40"]


def test_prefix_files_with_other_headers_or_formats_are_refused(s3):
    bucket = _bucket(s3)
    s3.put_object(Bucket=bucket, Key="a/1.csv", Body=b"USER_ID,AGE\nu1,30\n")
    s3.put_object(Bucket=bucket, Key="a/2.csv", Body=b"USER_ID,GENDER\nu2,f\n")
    with pytest.raises(ValidationError, match="another header"):
        with locations.staged_input(None, f"s3://{bucket}/a/"):
            pass
    s3.put_object(Bucket=bucket, Key="b/1.csv", Body=b"USER_ID\nu1\n")
    s3.put_object(Bucket=bucket, Key="b/2.parquet", Body=b"PAR1")
    with pytest.raises(ValidationError, match="plain .csv"):
        with locations.staged_input(None, f"s3://{bucket}/b/"):
            pass


def test_missing_objects_and_buckets_are_not_found(s3):
    bucket = _bucket(s3)
    with pytest.raises(NotFoundError, match="no objects"):
        with locations.staged_input(None, f"s3://{bucket}/nothing/here.csv"):
            pass
    with pytest.raises(NotFoundError, match="does not exist"):
        with locations.staged_input(None, f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/x.csv"):
            pass


def test_publish_writes_to_s3_and_output_location_names_the_file_in_a_folder(s3, tmp_path):
    bucket = _bucket(s3)
    source = tmp_path / "recs.jsonl"
    source.write_text('{"input": {"userId": "u1"}}\n')
    target = locations.output_location(f"s3://{bucket}/out/", "users.json.out")
    assert target == f"s3://{bucket}/out/users.json.out"
    locations.publish(None, source, target)
    assert s3.get_object(Bucket=bucket, Key="out/users.json.out")["Body"].read() == source.read_bytes()


def test_workspace_settings_choose_the_endpoint_and_credentials(s3_endpoint, store, monkeypatch):
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    store.set_setting("s3.endpoint_url", s3_endpoint)
    store.set_setting("s3.region", "us-east-1")
    store.set_setting("s3.access_key_id", "from-settings")
    store.set_setting("s3.secret_access_key", "secret")
    client = locations.s3_client(store)
    assert client.meta.endpoint_url == s3_endpoint
    bucket = f"b-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="k.csv", Body=b"ITEM_ID\ni1\n")
    with locations.staged_input(store, f"s3://{bucket}/k.csv") as path:
        assert path.read_text() == "ITEM_ID\ni1\n"


def test_file_urls_plain_paths_and_folders(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "1.csv").write_text("ITEM_ID\ni1\n")
    (tmp_path / "in" / "2.csv").write_text("ITEM_ID\ni2\n")
    with locations.staged_input(None, f"file://{tmp_path}/in/1.csv") as path:
        assert path == tmp_path / "in" / "1.csv"
    with locations.staged_input(None, str(tmp_path / "in")) as path:
        assert path.read_text().splitlines() == ["ITEM_ID", "i1", "i2"]
    with pytest.raises(NotFoundError):
        with locations.staged_input(None, str(tmp_path / "missing.csv")):
            pass
    with pytest.raises(ValidationError, match="Unsupported data location"):
        locations.local_path("gs://bucket/key")
    out = locations.publish(None, tmp_path / "in" / "1.csv", locations.output_location(f"file://{tmp_path}/out/",
                                                                                          "x.out"))
    assert (tmp_path / "out" / "x.out").read_text() == "ITEM_ID\ni1\n" and out == str(tmp_path / "out" / "x.out")
