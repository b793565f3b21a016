"""Import jobs: formats, mapping, validation and rejects, FULL/INCREMENTAL semantics, atomicity, real data sets."""

import csv
import gzip
import json

import fastavro
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from recsys import datasets
from recsys.events import create_event_tracker, put_events, put_items
from recsys.exceptions import ImportFailed, ValidationError
from recsys.ingest import get_import_job, import_file, list_import_jobs
from recsys.readers import sniff_delimiter
from recsys.store import ACTIVE, CREATE_FAILED

ITEMS_SCHEMA = {"type": "record", "name": "Items", "fields": [
    {"name": "ITEM_ID", "type": "string"},
    {"name": "GENRES", "type": ["null", "string"], "categorical": True},
    {"name": "PRICE", "type": ["null", "float"]},
    {"name": "IN_STOCK", "type": ["null", "boolean"]},
    {"name": "DESCRIPTION", "type": ["null", "string"], "textual": True},
]}


@pytest.fixture
def group(store):
    store.create_dataset_group("g")
    return "g"


def write_csv(path, rows, header=("USER_ID", "ITEM_ID", "TIMESTAMP")):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def interactions_rows(n, user_prefix="u", start=1_600_000_000):
    return [(f"{user_prefix}{k % 7}", f"i{k % 11}", start + k) for k in range(n)]


# -- basic imports and formats --------------------------------------------------------------------------------


def test_csv_import_known_answer(store, group, tmp_path):
    path = write_csv(tmp_path / "a.csv", [("u1", "i1", 1600000002), ("u1", "i2", 1600000001), ("u2", "i1", 5)])
    job = import_file(store, group, "interactions", path)
    assert (job.status, job.rows_read, job.rows_accepted, job.rows_rejected) == (ACTIVE, 3, 3, 0)
    assert job.rejects_path is None
    frame = datasets.read_interactions(store, group)
    assert frame[["USER_ID", "ITEM_ID", "TIMESTAMP"]].values.tolist() == [
        ["u2", "i1", 5], ["u1", "i2", 1600000001], ["u1", "i1", 1600000002]]
    assert frame["TIMESTAMP"].dtype == np.int64
    stored = get_import_job(store, group, job.name)
    assert (stored.status, stored.rows_accepted, stored.rows_rejected) == (ACTIVE, 3, 0)
    assert stored.arn == job.arn and stored.dataset_arn.endswith("/INTERACTIONS")
    assert [j.arn for j in list_import_jobs(store, group)] == [job.arn]
    assert datasets.user_history(store, group, "u1")["ITEM_ID"].tolist() == ["i2", "i1"]
    assert datasets.user_history(store, group, "u1", limit=1)["ITEM_ID"].tolist() == ["i1"]


def test_headers_are_case_insensitive_and_extra_columns_ignored(store, group, tmp_path):
    path = write_csv(tmp_path / "a.csv", [("u1", "i1", 100, "x")], header=("user_id", "Item_Id", "timestamp", "EXTRA"))
    job = import_file(store, group, "Interactions", path)
    assert job.rows_accepted == 1 and job.ignored_columns == ["EXTRA"]


@pytest.mark.parametrize("fmt", ["csv.gz", "tsv", "semicolon", "jsonl", "parquet", "avro"])
def test_formats(store, group, tmp_path, fmt):
    frame = pd.DataFrame({"USER_ID": ["u1", "u2"], "ITEM_ID": ["i1", "i2"], "TIMESTAMP": [10, 20],
                          "EVENT_VALUE": [1.5, None]})
    if fmt == "csv.gz":
        path = tmp_path / "x.csv.gz"
        with gzip.open(path, "wt") as fh:
            frame.to_csv(fh, index=False)
    elif fmt == "tsv":
        path = tmp_path / "x.txt"
        frame.to_csv(path, sep="\t", index=False)
    elif fmt == "semicolon":
        path = tmp_path / "x.csv"
        frame.to_csv(path, sep=";", index=False)
    elif fmt == "jsonl":
        path = tmp_path / "x.jsonl"
        path.write_text('{"USER_ID": "u1", "ITEM_ID": "i1", "TIMESTAMP": 10, "EVENT_VALUE": 1.5}\n'
                        '{"USER_ID": "u2", "ITEM_ID": "i2", "TIMESTAMP": 20, "EVENT_VALUE": null}\n')
    elif fmt == "parquet":
        path = tmp_path / "x.parquet"
        frame.to_parquet(path)
    else:
        path = tmp_path / "x.avro"
        schema = fastavro.parse_schema({"type": "record", "name": "Interactions", "fields": [
            {"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
            {"name": "TIMESTAMP", "type": "long"}, {"name": "EVENT_VALUE", "type": ["null", "float"]}]})
        with open(path, "wb") as fh:
            fastavro.writer(fh, schema, [{"USER_ID": "u1", "ITEM_ID": "i1", "TIMESTAMP": 10, "EVENT_VALUE": 1.5},
                                         {"USER_ID": "u2", "ITEM_ID": "i2", "TIMESTAMP": 20, "EVENT_VALUE": None}])
    job = import_file(store, group, "Interactions", path)
    assert job.rows_accepted == 2, job
    out = datasets.read_interactions(store, group)
    assert out["USER_ID"].tolist() == ["u1", "u2"]
    assert out["TIMESTAMP"].tolist() == [10, 20]
    assert out["EVENT_VALUE"].iloc[0] == 1.5 and np.isnan(out["EVENT_VALUE"].iloc[1])


def test_sniffing_prefers_the_consistent_delimiter(tmp_path):
    (tmp_path / "a.csv").write_text('A,B,C\n1,"x;y",3\n4,5,6\n')
    (tmp_path / "b.csv").write_text("A\tB\n1\t2,5\n")
    (tmp_path / "c.csv").write_text("A|B\n1|2\n")
    assert [sniff_delimiter(tmp_path / n) for n in ("a.csv", "b.csv", "c.csv")] == [",", "\t", "|"]


def test_headerless_positions_and_date_columns(store, group, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("2024-01-02T03:04:05Z;u1;i1\n02/01/2024;u2;i2\n")
    with pytest.raises(ImportFailed) as info:  # the second row's date is not ISO: 1 of 2 rejected > 10%
        import_file(store, group, "Interactions", path, header=False,
                    column_map={0: "TIMESTAMP", "1": "USER_ID", "2": "ITEM_ID"}, date_columns=["0"])
    assert "row 2 TIMESTAMP: not a date" in str(info.value)
    job = import_file(store, group, "Interactions", path, header=False, max_rejected_fraction=0.5,
                      column_map={0: "TIMESTAMP", "1": "USER_ID", "2": "ITEM_ID"}, date_columns=["TIMESTAMP"])
    assert job.rows_accepted == 1 and job.rows_rejected == 1
    assert datasets.read_interactions(store, group)["TIMESTAMP"].tolist() == [1704164645]
    path.write_text("TS,U,I\n02/01/2024 10:00,u2,i2\n")
    import_file(store, group, "Interactions", path, column_map={"TS": "TIMESTAMP", "U": "USER_ID", "I": "ITEM_ID"},
                date_columns=["TS"], date_format="%d/%m/%Y %H:%M")
    assert datasets.read_interactions(store, group)["TIMESTAMP"].tolist() == [1704189600]


def test_missing_required_column_names_field_and_fix(store, group, tmp_path):
    path = write_csv(tmp_path / "a.csv", [("u1", "i1")], header=("CustomerID", "ITEM_ID"))
    with pytest.raises(ImportFailed) as info:
        import_file(store, group, "Interactions", path)
    msg = str(info.value)
    assert "USER_ID" in msg and "TIMESTAMP" in msg and "CustomerID" in msg and "--map" in msg
    assert info.value.job.status == CREATE_FAILED
    assert store.get_resource("dataset-import-job", group, info.value.job.name)["status"] == CREATE_FAILED
    with pytest.raises(ValidationError, match="'Nope' is not in the file"):
        import_file(store, group, "Interactions", path, column_map={"Nope": "USER_ID"})


# -- validation and rejects -----------------------------------------------------------------------------------


def test_rejected_rows_report_row_field_reason(store, group, tmp_path):
    path = write_csv(tmp_path / "a.csv", [
        ("u1", "i1", 1600000000, "1.5"),            # row 2 ok
        ("", "i1", 1600000000, "1"),                 # row 3 USER_ID empty
        ("u1", "i1", 1600000000000, "1"),            # row 4 milliseconds
        ("u1", "i1", "yesterday", "1"),              # row 5 not an integer
        ("u1", "i1", 1600000000, "abc"),             # row 6 EVENT_VALUE not a number
        ("u1", "x" * 300, 1600000000, "1"),          # row 7 ITEM_ID too long
        ("u1", "i2", "1600000001", ""),              # row 8 ok, EVENT_VALUE null
    ] + [("u2", f"i{k}", 1600000000 + k, "2") for k in range(40)], header=("USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_VALUE"))
    job = import_file(store, group, "Interactions", path, max_rejected_fraction=0.2)
    assert (job.rows_read, job.rows_accepted, job.rows_rejected) == (47, 42, 5)
    with open(job.rejects_path, newline="") as fh:
        rejects = list(csv.DictReader(fh))
    got = [(r["row"], r["field"]) for r in rejects]
    assert got == [("3", "USER_ID"), ("4", "TIMESTAMP"), ("5", "TIMESTAMP"), ("6", "EVENT_VALUE"), ("7", "ITEM_ID")]
    reasons = {r["row"]: r["reason"] for r in rejects}
    assert "divide by 1000" in reasons["4"]
    assert "required USER_ID is empty" in reasons["3"]
    assert "not a number" in reasons["6"] and "256" in reasons["7"]
    assert rejects[2]["TIMESTAMP"] == "yesterday"  # raw values are kept, one column each
    assert job.first_rejects[0] == {"row": 3, "field": "USER_ID", "reason": "required USER_ID is empty"}


def test_item_field_rules(store, group, tmp_path):
    datasets.create_dataset(store, group, "Items", ITEMS_SCHEMA)
    rows = [
        ("i1", "a|b", "1.5", "true", "short"),           # ok
        ("i2", "x" * 1001, "1", "false", ""),             # categorical value too long
        ("i3", "a|" + "y" * 1000, "1", "", ""),           # one value of 1000 chars: ok
        ("i4", "a", "1", "True", ""),                     # boolean case
        ("i5", "a", "", "", "z" * 25_000),                # textual truncated, ok
    ] + [(f"j{k}", "c", "2", "false", "") for k in range(20)]
    path = write_csv(tmp_path / "items.csv", rows, header=("ITEM_ID", "GENRES", "PRICE", "IN_STOCK", "DESCRIPTION"))
    job = import_file(store, group, "Items", path)
    assert job.rows_rejected == 2
    with open(job.rejects_path, newline="") as fh:
        reasons = {r["ITEM_ID"]: (r["field"], r["reason"]) for r in csv.DictReader(fh)}
    assert reasons["i2"][0] == "GENRES" and "1000" in reasons["i2"][1]
    assert reasons["i4"] == ("IN_STOCK", "booleans must be lower-case true or false")
    items = datasets.read_items(store, group).set_index("ITEM_ID")
    assert len(items.loc["i5", "DESCRIPTION"]) == 20_000
    assert items.loc["i1", "IN_STOCK"] == True  # noqa: E712 (pandas boolean)
    assert items.loc["i1", "GENRES"] == "a|b"


def test_too_many_rejects_fails_and_writes_nothing(store, group, tmp_path):
    import_file(store, group, "Interactions", write_csv(tmp_path / "ok.csv", interactions_rows(5)))
    path = write_csv(tmp_path / "a.csv", [("u1", "i1", 1), ("u1", "i1", "x"), ("u1", "i1", 2)])
    with pytest.raises(ImportFailed) as info:
        import_file(store, group, "Interactions", path)
    msg = str(info.value)
    assert "1 of 3 rows rejected (33.3% > the 10% allowed)" in msg and "row 3 TIMESTAMP" in msg
    assert len(datasets.read_interactions(store, group)) == 5   # the previous data is intact
    job = import_file(store, group, "Interactions", path, max_rejected_fraction=0.5)
    assert job.rows_accepted == 2 and len(datasets.read_interactions(store, group)) == 2


def test_latin1_file_is_a_clear_error(store, group, tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("USER_ID,ITEM_ID,TIMESTAMP\nJos\xe9,caf\xe9,1\n".encode("latin-1"))
    with pytest.raises(ImportFailed, match="not UTF-8"):
        import_file(store, group, "Interactions", path)


def test_ragged_csv_row_is_one_rejected_row(store, group, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,1\nu1,i1,1,4,5\n")
    with pytest.raises(ImportFailed, match="row 3 \\(line\\): line 3: 5 fields where the header has 3"):
        import_file(store, group, "Interactions", path)


def test_bad_json_lines_are_rejected_rows(store, group, tmp_path):
    path = tmp_path / "x.jsonl"
    lines = ['{"USER_ID": "u1", "ITEM_ID": "i1", "TIMESTAMP": 1}'] * 20 + ["{oops", "[1, 2]",
                                                                          '{"USER_ID": "u1", "ITEM_ID": "i1", "TIMESTAMP": 1.5}']
    path.write_text("\n".join(lines) + "\n")
    job = import_file(store, group, "Interactions", path, max_rejected_fraction=0.2)
    assert job.rows_accepted == 20
    assert [(r["row"], r["field"]) for r in job.first_rejects] == [(21, "(line)"), (22, "(line)"), (23, "TIMESTAMP")]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
def test_random_bytes_never_crash(tmp_path_factory, data):
    from recsys.store import Store

    store = Store(tmp_path_factory.mktemp("ws"))
    store.create_dataset_group("g")
    path = tmp_path_factory.mktemp("f") / "random.csv"
    path.write_bytes(b"USER_ID,ITEM_ID,TIMESTAMP\n" + data if data[:1] == b"\x00" else data)
    try:
        job = import_file(store, "g", "Interactions", path)
    except ValidationError as exc:
        assert str(exc)
    else:
        assert job.rows_accepted >= 1


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.tuples(st.text(max_size=300), st.text(max_size=30),
                                 st.one_of(st.integers(), st.floats(), st.text(max_size=12))), min_size=1, max_size=20))
def test_random_values_never_crash(tmp_path_factory, values):
    from recsys.store import Store

    store = Store(tmp_path_factory.mktemp("ws"))
    store.create_dataset_group("g")
    path = tmp_path_factory.mktemp("f") / "values.csv"
    write_csv(path, values)
    try:
        job = import_file(store, "g", "Interactions", path, max_rejected_fraction=1.0)
    except ValidationError as exc:
        assert str(exc)
    else:
        frame = datasets.read_interactions(store, "g")
        assert len(frame) == job.rows_accepted
        assert (frame["TIMESTAMP"] < 10**11).all() and (frame["ITEM_ID"].str.len() <= 256).all()


# -- FULL / INCREMENTAL, atomicity -----------------------------------------------------------------------------


def test_full_replaces_bulk_rows_only_and_incremental_appends(store, group, tmp_path):
    import_file(store, group, "Interactions", write_csv(tmp_path / "a.csv", interactions_rows(10, "a")))
    tracker = create_event_tracker(store, group, "web")
    put_events(store, tracker["trackingId"], "s1", "live", [{"eventType": "click", "itemId": "i1", "sentAt": 1700000000}])
    import_file(store, group, "Interactions", write_csv(tmp_path / "b.csv", interactions_rows(4, "b")))
    frame = datasets.read_interactions(store, group, bookkeeping=True)
    assert sorted(frame["USER_ID"].unique()) == ["b0", "b1", "b2", "b3", "live"]
    assert frame.groupby("_source").size().to_dict() == {"bulk": 4, "stream": 1}
    import_file(store, group, "Interactions", write_csv(tmp_path / "c.csv", interactions_rows(3, "c")), mode="INCREMENTAL")
    assert datasets.count_rows(store, group, "Interactions") == {"bulk": 7, "stream": 1, "total": 8}


def test_sequence_numbers_keep_growing_across_full_imports(store, group, tmp_path):
    path = write_csv(tmp_path / "a.csv", interactions_rows(5))
    import_file(store, group, "Interactions", path)
    first = datasets.max_seq(store, group)
    import_file(store, group, "Interactions", path)
    assert datasets.max_seq(store, group) == first + 5
    newer = datasets.read_interactions(store, group, since_seq=first)
    assert len(newer) == 5
    assert datasets.read_interactions(store, group, since_seq=first + 5).empty


def test_items_full_and_incremental_upsert(store, group, tmp_path):
    datasets.create_dataset(store, group, "Items", ITEMS_SCHEMA)
    header = ("ITEM_ID", "GENRES", "PRICE")
    import_file(store, group, "Items", write_csv(tmp_path / "a.csv", [("i1", "a", 1), ("i2", "b", 2)], header))
    put_items(store, group, [{"itemId": "s1", "properties": '{"genres": "live"}'}])
    import_file(store, group, "Items", write_csv(tmp_path / "b.csv", [("i2", "bb", 3), ("i3", "c", 4)], header),
                mode="INCREMENTAL")
    items = datasets.read_items(store, group, bookkeeping=True)
    assert items[["ITEM_ID", "GENRES", "_source"]].values.tolist() == [
        ["i1", "a", "bulk"], ["i2", "bb", "bulk"], ["i3", "c", "bulk"], ["s1", "live", "stream"]]
    import_file(store, group, "Items", write_csv(tmp_path / "c.csv", [("i9", "z", 1), ("i9", "zz", 2)], header))
    items = datasets.read_items(store, group)
    assert items[["ITEM_ID", "GENRES"]].values.tolist() == [["i9", "zz"], ["s1", "live"]]  # last duplicate wins


def _index_names(store, table):
    with store.reading() as db:
        return sorted(r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", [table]))


@pytest.mark.parametrize("new_rows", [3, 400])  # small: indexes kept up to date; large: dropped and rebuilt
def test_incremental_keeps_every_index_and_the_order(store, group, tmp_path, new_rows):
    import_file(store, group, "Interactions", write_csv(tmp_path / "a.csv", interactions_rows(100, "a")))
    table = datasets.get_dataset(store, group, "Interactions")["table"]
    indexes = _index_names(store, table)
    assert len(indexes) == 5
    first = datasets.max_seq(store, group)
    job = import_file(store, group, "Interactions", write_csv(tmp_path / "b.csv", interactions_rows(new_rows, "b")),
                      mode="INCREMENTAL", chunk_size=64)
    assert job.rows_accepted == new_rows
    assert _index_names(store, table) == indexes
    with store.reading() as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    newer = datasets.read_interactions(store, group, since_seq=first, bookkeeping=True)
    assert newer["USER_ID"].tolist() == [f"b{k % 7}" for k in range(new_rows)]
    assert newer["_seq"].tolist() == list(range(first + 1, first + new_rows + 1))
    assert datasets.user_history(store, group, "b1")["TIMESTAMP"].tolist() == \
        [1_600_000_000 + k for k in range(new_rows) if k % 7 == 1]


def test_failed_large_incremental_import_keeps_rows_and_indexes(store, group, tmp_path):
    import_file(store, group, "Interactions", write_csv(tmp_path / "a.csv", interactions_rows(30, "a")))
    table = datasets.get_dataset(store, group, "Interactions")["table"]
    indexes = _index_names(store, table)

    def progress(done, total):
        if done >= 200:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        import_file(store, group, "Interactions", write_csv(tmp_path / "b.csv", interactions_rows(300, "b")),
                    mode="INCREMENTAL", chunk_size=50, progress=progress)
    assert _index_names(store, table) == indexes
    assert datasets.count_rows(store, group, "Interactions")["total"] == 30


def test_row_numbers_across_chunk_boundaries(store, group, tmp_path):
    rows = interactions_rows(25_000)
    for k in (19_999, 20_000, 24_999):  # data rows 20,000, 20,001 and 25,000: file rows 20,001, 20,002, 25,001
        rows[k] = (rows[k][0], rows[k][1], "soon")
    path = write_csv(tmp_path / "a.csv", rows)
    job = import_file(store, group, "Interactions", path)
    assert (job.rows_read, job.rows_accepted, job.rows_rejected) == (25_000, 24_997, 3)
    with open(job.rejects_path, newline="", encoding="utf-8") as fh:
        rejects = list(csv.DictReader(fh))
    assert [(r["row"], r["field"], r["TIMESTAMP"]) for r in rejects] == [
        ("20001", "TIMESTAMP", "soon"), ("20002", "TIMESTAMP", "soon"), ("25001", "TIMESTAMP", "soon")]
    frame = datasets.read_interactions(store, group, bookkeeping=True)
    assert len(frame) == 24_997 and frame["_seq"].is_unique


def test_row_blocks_match_rows():
    frame = pd.DataFrame({
        "S": pd.Series(["a", None, "a", "b", "", "c", "a"], dtype="str"),
        "I": pd.Series([1, None, 3, 4, 5, 6, 7], dtype="Int64"),
        "N": np.array([1, 2, 3, 4, 5, 6, 2**40], dtype="int64"),
        "F": [0.5, np.nan, 2.0, np.nan, 1e300, -0.0, 3.25],
        "B": pd.Series([True, None, False, True, True, False, None], dtype="boolean"),
    })
    columns = list(frame.columns)
    expected = [list(r) for r in datasets.frame_to_rows(frame, columns)]
    assert expected[1] == [None, None, 2, None, None]
    blocks = datasets.frame_to_blocks(frame, columns, per_statement=3)
    assert (blocks.n, blocks.per_statement, len(blocks.blocks), len(blocks.tail)) == (7, 3, 2, 1)
    flat = [v for b in blocks.blocks for v in b] + [v for r in blocks.tail for v in r]
    assert [flat[k:k + 5] for k in range(0, len(flat), 5)] == expected
    assert all(type(a) is type(b) for a, b in zip(flat, [v for r in expected for v in r]))
    empty = datasets.frame_to_blocks(frame.iloc[:0], columns)
    assert (empty.n, empty.blocks, empty.tail) == (0, [], [])


@pytest.mark.parametrize("boom", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_failure_mid_import_leaves_previous_data(store, group, tmp_path, boom):
    import_file(store, group, "Interactions", write_csv(tmp_path / "old.csv", interactions_rows(6, "old")))
    path = write_csv(tmp_path / "new.csv", interactions_rows(50, "new"))

    def progress(done, total):
        if done >= 20:
            raise boom

    with pytest.raises(type(boom)):
        import_file(store, group, "Interactions", path, chunk_size=10, progress=progress, job_name="doomed")
    frame = datasets.read_interactions(store, group)
    assert len(frame) == 6 and set(frame["USER_ID"].str[:3]) == {"old"}
    job = store.get_resource("dataset-import-job", group, "doomed")
    assert job["status"] == CREATE_FAILED and "after 20 rows" in job["failure_reason"]
    # the store stays usable: the next import works
    assert import_file(store, group, "Interactions", path, mode="INCREMENTAL").rows_accepted == 50


def test_schema_conflict_and_custom_schema(store, group, tmp_path):
    path = write_csv(tmp_path / "i.csv", [("i1", "a")], header=("ITEM_ID", "GENRES"))
    job = import_file(store, group, "Items", path, schema=json.dumps(ITEMS_SCHEMA))
    assert job.rows_accepted == 1
    assert datasets.get_dataset(store, group, "Items")["schema"].names == tuple(f["name"] for f in ITEMS_SCHEMA["fields"])
    other = dict(ITEMS_SCHEMA, fields=ITEMS_SCHEMA["fields"][:2])
    with pytest.raises(Exception, match="different schema"):
        import_file(store, group, "Items", path, schema=other)


# -- real data sets -------------------------------------------------------------------------------------------


def test_ml100k_import(store, shared_datasets):
    store.create_dataset_group("ml")
    job = import_file(store, "ml", "Interactions", shared_datasets / "ml-100k" / "u.data", header=False,
                      column_map={"0": "USER_ID", "1": "ITEM_ID", "2": "EVENT_VALUE", "3": "TIMESTAMP"})
    assert (job.rows_accepted, job.rows_rejected) == (100_000, 0)
    frame = datasets.read_interactions(store, "ml")
    assert len(frame) == 100_000
    assert frame["USER_ID"].nunique() == 943 and frame["ITEM_ID"].nunique() == 1682
    assert frame["EVENT_VALUE"].sum() == 352_986  # sum of the 1-5 ratings
    assert frame["TIMESTAMP"].is_monotonic_increasing
    first = frame.iloc[0]
    assert (first["TIMESTAMP"], first["USER_ID"]) == (874724710, "259")
    assert len(datasets.user_history(store, "ml", "196")) == 39


RETAIL_MAP = {"CustomerID": "USER_ID", "StockCode": "ITEM_ID", "InvoiceDate": "TIMESTAMP", "Quantity": "EVENT_VALUE"}


def test_online_retail_import(store, shared_datasets):
    store.create_dataset_group("retail")
    job = import_file(store, "retail", "Interactions", shared_datasets / "online-retail" / "online_retail.csv.gz",
                      column_map=RETAIL_MAP, date_columns=["InvoiceDate"],
                      exclude={"InvoiceNo": "^C", "Quantity": "^-"}, max_rejected_fraction=0.3)
    assert job.rows_read == 541_909
    assert job.rows_excluded == 10_624          # 9,288 'C' invoices + 1,336 other negative quantities
    assert job.rows_rejected == 133_361         # missing CustomerID
    assert job.rows_accepted == 397_924
    rejects = pd.read_csv(job.rejects_path, dtype=str, keep_default_na=False)
    counts = rejects.groupby(["field", "reason"]).size().to_dict()
    assert counts[("USER_ID", "required USER_ID is empty")] == 133_361
    assert counts[("InvoiceNo", "excluded: InvoiceNo matches '^C'")] == 9_288
    assert rejects["row"].iloc[0] == "143"      # the header is row 1: the first cancellation is on line 143
    first = datasets.user_history(store, "retail", "17850").iloc[0]
    assert (first["ITEM_ID"], first["TIMESTAMP"], first["EVENT_VALUE"]) == ("85123A", 1291191960, 6.0)


def test_online_retail_parquet_typed_columns(store, shared_datasets, tmp_path):
    """Parquet keeps types: CustomerID is a float (17850.0 must become "17850"), InvoiceDate a timestamp."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = pq.ParquetFile(shared_datasets / "online-retail" / "online_retail.parquet")
    head = pa.Table.from_batches([next(source.iter_batches(batch_size=20_000))])
    pq.write_table(head, tmp_path / "head.parquet")
    store.create_dataset_group("retail")
    job = import_file(store, "retail", "Interactions", tmp_path / "head.parquet", column_map=RETAIL_MAP,
                      date_columns=["InvoiceDate"], exclude={"InvoiceNo": "^C", "Quantity": "^-"},
                      max_rejected_fraction=0.5, chunk_size=7_000)
    assert job.rows_read == 20_000 and job.rows_accepted + job.rows_rejected + job.rows_excluded == 20_000
    assert {r["field"] for r in job.first_rejects} == {"USER_ID"}
    first = datasets.user_history(store, "retail", "17850").iloc[0]
    assert (first["ITEM_ID"], first["TIMESTAMP"], first["EVENT_VALUE"]) == ("85123A", 1291191960, 6.0)
    rejects = pd.read_csv(job.rejects_path, dtype=str, keep_default_na=False)
    assert rejects["row"].iloc[0] == "142"      # Parquet has no header row: the first record is row 1


def test_a_file_of_millisecond_timestamps_is_rejected(store, group, tmp_path):
    path = write_csv(tmp_path / "ms.csv", [("u1", "i1", 1_600_000_000_000 + k) for k in range(5)])
    with pytest.raises(ImportFailed, match="5 of 5 rows rejected.*divide by 1000"):
        import_file(store, group, "Interactions", path)


# -- files with no time column ----------------------------------------------------------------------------------


def test_a_file_without_time_gets_one_fixed_timestamp_and_keeps_its_order(store, group, tmp_path):
    path = tmp_path / "plays.tsv"
    path.write_text("userID\tartistID\tweight\nu1\ta\t30\nu1\tb\t10\nu2\ta\t5\nu1\tc\t1\n")
    mapping = {"userID": "USER_ID", "artistID": "ITEM_ID", "weight": "EVENT_VALUE"}
    with pytest.raises(ImportFailed, match="--fixed-timestamp now"):
        import_file(store, group, "interactions", path, column_map=mapping)
    job = import_file(store, group, "interactions", path, column_map=mapping, fixed_timestamp=1_700_000_000)
    assert (job.status, job.rows_accepted, job.fixed_timestamp) == (ACTIVE, 4, 1_700_000_000)
    frame = datasets.read_interactions(store, group)
    assert set(frame["TIMESTAMP"]) == {1_700_000_000}
    # Equal times: each user's events keep the file's order (newest last), which splits and recency rely on.
    assert datasets.user_history(store, group, "u1")["ITEM_ID"].tolist() == ["a", "b", "c"]


def test_a_fixed_timestamp_is_refused_beside_a_time_column(store, group, tmp_path):
    path = write_csv(tmp_path / "a.csv", [("u1", "i1", 1600000002)])
    with pytest.raises(ImportFailed, match="'TIMESTAMP' gives TIMESTAMP"):
        import_file(store, group, "interactions", path, fixed_timestamp=1_700_000_000)
    with pytest.raises(ImportFailed, match="whole number of epoch seconds"):
        import_file(store, group, "interactions", path, column_map={"TIMESTAMP": "EVENT_VALUE"},
                    fixed_timestamp="yesterday")
    assert datasets.read_interactions(store, group).empty
