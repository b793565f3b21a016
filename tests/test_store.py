"""Behaviour of the workspace store: groups, generic resources, transactions, migrations."""

import threading

import pytest

from recsys.exceptions import ConflictError, NotFoundError, ValidationError
from recsys.store import Store, validate_name


def test_store_creates_workspace_and_is_reopenable(tmp_path):
    Store(tmp_path / "ws").create_dataset_group("shop", domain="ecommerce")
    reopened = Store(tmp_path / "ws")  # migrations are idempotent
    group = reopened.get_dataset_group("shop")
    assert group["domain"] == "ECOMMERCE"
    assert group["arn"] == "arn:aws:personalize:us-east-1:000000000000:dataset-group/shop"
    assert (tmp_path / "ws" / "recsys.db").exists() and (tmp_path / "ws" / "artifacts").is_dir()


def test_home_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_HOME", str(tmp_path / "env-home"))
    assert Store().home == (tmp_path / "env-home").resolve()


def test_wal_mode(store):
    with store.reading() as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("bad", ["", "-x", "a b", "x" * 64, "é", None, 3])
def test_names_follow_personalize_rule(bad):
    with pytest.raises(ValidationError, match="1-63 characters"):
        validate_name(bad)


def test_group_errors(store):
    store.create_dataset_group("a")
    with pytest.raises(ConflictError, match="already exists"):
        store.create_dataset_group("a")
    with pytest.raises(ValidationError, match="domain"):
        store.create_dataset_group("b", domain="RETAIL")
    with pytest.raises(NotFoundError, match="existing: a"):
        store.get_dataset_group("zzz")


def test_resource_lifecycle(store):
    store.create_dataset_group("g")
    created = store.create_resource("filter", "g", "f1", {"filterExpression": "x"}, status="CREATE PENDING")
    assert created["arn"] == "arn:aws:personalize:us-east-1:000000000000:filter/f1" and created["status"] == "CREATE PENDING"
    updated = store.update_resource("filter", "g", "f1", status="ACTIVE", body={"extra": 1})
    assert updated["filterExpression"] == "x" and updated["extra"] == 1 and updated["status"] == "ACTIVE"
    assert store.find_resource("arn:recsys:filter/g/f1")["name"] == "f1"
    store.create_resource("filter", "g", "f2", {})
    assert [r["name"] for r in store.list_resources("filter", "g")] == ["f2", "f1"]
    with pytest.raises(ConflictError):
        store.create_resource("filter", "g", "f1", {})
    store.delete_resource("filter", "g", "f1")
    with pytest.raises(NotFoundError):
        store.get_resource("filter", "g", "f1")


def test_transaction_rolls_back_everything_on_error(store):
    store.create_dataset_group("g")
    with pytest.raises(RuntimeError):
        with store.transaction() as db:
            db.execute("CREATE TABLE t (x INTEGER)")
            db["t"].insert_all([{"x": i} for i in range(10)])  # sqlite-utils nests via savepoints
            raise RuntimeError("boom")
    with store.reading() as db:
        assert "t" not in db.table_names()


def test_concurrent_writers_do_not_lose_updates(store):
    store.create_dataset_group("g")
    errors = []

    def writer(k):
        try:
            for i in range(20):
                store.create_resource("thing", "g", f"w{k}-{i}", {"i": i})
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(store.list_resources("thing", "g")) == 80


def test_delete_group_removes_its_resources(store):
    store.create_dataset_group("g")
    store.create_resource("filter", "g", "f", {})
    store.delete_dataset_group("g")
    assert store.list_resources("filter") == []
    with pytest.raises(NotFoundError):
        store.get_dataset_group("g")
