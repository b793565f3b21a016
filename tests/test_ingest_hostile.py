"""Hostile files through the importer: typed Avro/Parquet columns, nested values, over-long cells, malformed
CSV records and fuzzed files of every format. Each bad cell or record is one rejected row with a reason; the
rest imports; a failed import leaves the dataset as it was."""

import csv
import datetime as dt
import decimal
import gzip
import json
import uuid

import fastavro
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from recsys import datasets
from recsys.csv_reader import BAD_RECORD, MAX_COLUMNS, TolerantReader, read_csv_tables, read_header
from recsys.exceptions import ValidationError
from recsys.ingest import ImportFailed, import_file
from recsys.store import Store

ITEMS_SCHEMA = {"type": "record", "name": "Items", "fields": [
    {"name": "ITEM_ID", "type": "string"},
    {"name": "GENRES", "type": ["null", "string"], "categorical": True},
    {"name": "COLOR", "type": ["null", "string"], "categorical": True},
    {"name": "PRICE", "type": ["null", "float"]},
    {"name": "CREATION_TIMESTAMP", "type": ["null", "long"]},
    {"name": "DESCRIPTION", "type": ["null", "string"], "textual": True},
]}
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])


@pytest.fixture
def group(store):
    store.create_dataset_group("g")
    return "g"


def import_items(store, group, path, **kwargs):
    return import_file(store, group, "Items", path, schema=ITEMS_SCHEMA, max_rejected_fraction=1.0, **kwargs)


def items_by_id(store, group) -> dict:
    frame = datasets.read_items(store, group)
    return {row["ITEM_ID"]: row for row in frame.astype(object).where(frame.notna(), None).to_dict("records")}


# -- typed columns: each Parquet and Avro logical type is converted or rejected per row ------------------------

D = dt.date(2024, 5, 1)
T = dt.datetime(2024, 5, 1, 13, 45, 30)
EPOCH_D, EPOCH_T = 1714521600, 1714571130

# (arrow array of 2 values, field, the stored first value or ("rejected", reason fragment) for the first row)
PARQUET_PROBES = {
    "decimal->PRICE": (pa.array([decimal.Decimal("1.50"), None], pa.decimal128(6, 2)), "PRICE", 1.5),
    "decimal->COLOR": (pa.array([decimal.Decimal("1.50"), None], pa.decimal128(6, 2)), "COLOR", "1.50"),
    "decimal->long": (pa.array([decimal.Decimal("2.50"), None], pa.decimal128(6, 2)), "CREATION_TIMESTAMP",
                      ("rejected", "not an integer (long); round it")),
    "date32->long": (pa.array([D, None], pa.date32()), "CREATION_TIMESTAMP", EPOCH_D),
    "date64->string": (pa.array([D, None], pa.date64()), "COLOR", "2024-05-01"),
    "time32->string": (pa.array([3600, None], pa.time32("s")), "COLOR", "01:00:00"),
    "time64->long": (pa.array([3_600_000_000, None], pa.time64("us")), "CREATION_TIMESTAMP",
                     ("rejected", "a time of day (01:00:00)")),
    "timestamp[s]->long": (pa.array([T, None], pa.timestamp("s")), "CREATION_TIMESTAMP", EPOCH_T),
    "timestamp[ms]->long": (pa.array([T, None], pa.timestamp("ms")), "CREATION_TIMESTAMP", EPOCH_T),
    "timestamp[us, tz]->long": (pa.array([T.replace(tzinfo=dt.timezone.utc), None], pa.timestamp("us", "Asia/Tokyo")),
                                "CREATION_TIMESTAMP", EPOCH_T),
    "timestamp[ns, tz]->string": (pa.array([T.replace(tzinfo=dt.timezone.utc), None], pa.timestamp("ns", "UTC")),
                                  "COLOR", "2024-05-01T13:45:30Z"),
    "binary utf8->string": (pa.array([b"red", None], pa.binary()), "COLOR", "red"),
    "binary->string": (pa.array([b"\xff\xfe", None], pa.binary()), "COLOR", ("rejected", "not UTF-8 text (2 bytes)")),
    "fixed binary->string": (pa.array([b"ab", None], pa.binary(2)), "COLOR", "ab"),
    "duration->long": (pa.array([90, None], pa.duration("s")), "CREATION_TIMESTAMP", 90),
    "duration->string": (pa.array([90, None], pa.duration("s")), "COLOR", ("rejected", "a duration")),
    "list->categorical": (pa.array([["rock", "jazz"], None], pa.list_(pa.string())), "GENRES", "rock|jazz"),
    "list->textual": (pa.array([["rock", "jazz"], None], pa.list_(pa.string())), "DESCRIPTION",
                      ("rejected", "a list of 2 values where DESCRIPTION takes one value")),
    "list->float": (pa.array([[1.0], None], pa.list_(pa.float64())), "PRICE", ("rejected", "takes one number")),
    "struct->string": (pa.array([{"r": 1}, None], pa.struct([("r", pa.int64())])), "COLOR",
                       ("rejected", "a nested object ({r})")),
    "dictionary->string": (pa.array(["red", None]).dictionary_encode(), "COLOR", "red"),
    "large_string->string": (pa.array(["red", None], pa.large_string()), "COLOR", "red"),
    "bool->float": (pa.array([True, None]), "PRICE", ("rejected", "a boolean (true) where the schema says float")),
}


def check_probe(store, group, job, field, expected):
    stored = items_by_id(store, group)
    if isinstance(expected, tuple):
        assert "i1" not in stored and job.rows_rejected == 1
        assert job.first_rejects[0]["row"] == 1 and job.first_rejects[0]["field"] == field
        assert expected[1] in job.first_rejects[0]["reason"]
    else:
        assert job.rows_rejected == 0
        assert stored["i1"][field] == expected
    assert stored["i2"][field] is None  # the null of every type stays null


@pytest.mark.parametrize("name", sorted(PARQUET_PROBES))
def test_parquet_logical_types(store, group, tmp_path, name):
    array, field, expected = PARQUET_PROBES[name]
    path = tmp_path / "typed.parquet"
    pq.write_table(pa.table({"ITEM_ID": ["i1", "i2"], field: array}), path)
    job = import_items(store, group, path)
    check_probe(store, group, job, field, expected)


AVRO_PROBES = {
    "uuid->id": ({"type": "string", "logicalType": "uuid"}, uuid.UUID(int=7), "COLOR",
                 "00000000-0000-0000-0000-000000000007"),
    "decimal->float": ({"type": "bytes", "logicalType": "decimal", "precision": 6, "scale": 2},
                       decimal.Decimal("12.25"), "PRICE", 12.25),
    "fixed decimal->string": ({"type": "fixed", "name": "Money", "size": 8, "logicalType": "decimal",
                               "precision": 10, "scale": 3}, decimal.Decimal("-1.125"), "COLOR", "-1.125"),
    "date->long": ({"type": "int", "logicalType": "date"}, D, "CREATION_TIMESTAMP", EPOCH_D),
    "timestamp-millis->long": ({"type": "long", "logicalType": "timestamp-millis"},
                               T.replace(tzinfo=dt.timezone.utc), "CREATION_TIMESTAMP", EPOCH_T),
    "timestamp-micros->string": ({"type": "long", "logicalType": "timestamp-micros"},
                                 T.replace(tzinfo=dt.timezone.utc), "COLOR", "2024-05-01T13:45:30Z"),
    "local-timestamp-millis->long": ({"type": "long", "logicalType": "local-timestamp-millis"}, T,
                                     "CREATION_TIMESTAMP", EPOCH_T),
    "time-millis->string": ({"type": "int", "logicalType": "time-millis"}, dt.time(1, 2, 3), "COLOR", "01:02:03"),
    "bytes->string": ("bytes", b"blue", "COLOR", "blue"),
    "bytes not UTF-8->string": ("bytes", b"\x80", "COLOR", ("rejected", "binary data that is not UTF-8 text (1 byte)")),
    "fixed->string": ({"type": "fixed", "name": "Two", "size": 2}, b"ok", "COLOR", "ok"),
    "enum->string": ({"type": "enum", "name": "Color", "symbols": ["RED", "BLUE"]}, "RED", "COLOR", "RED"),
    "array->categorical": ({"type": "array", "items": "string"}, ["a", "b"], "GENRES", "a|b"),
    "map->string": ({"type": "map", "values": "string"}, {"k": "v"}, "COLOR", ("rejected", "a nested object ({k})")),
    "record->long": ({"type": "record", "name": "R", "fields": [{"name": "x", "type": "long"}]}, {"x": 1},
                     "CREATION_TIMESTAMP", ("rejected", "a nested object ({x})")),
}


@pytest.mark.parametrize("name", sorted(AVRO_PROBES))
def test_avro_logical_types(store, group, tmp_path, name):
    avro_type, value, field, expected = AVRO_PROBES[name]
    schema = {"type": "record", "name": "Probe", "fields": [
        {"name": "ITEM_ID", "type": "string"}, {"name": field, "type": ["null", avro_type]}]}
    path = tmp_path / "typed.avro"
    with open(path, "wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(schema), [{"ITEM_ID": "i1", field: value},
                                                            {"ITEM_ID": "i2", field: None}])
    job = import_items(store, group, path)
    check_probe(store, group, job, field, expected)


# -- nested values in id and scalar fields --------------------------------------------------------------------


def test_nested_json_values_are_rejected_rows_not_json_text_ids(store, group, tmp_path):
    lines = [{"USER_ID": f"u{k}", "ITEM_ID": "i1", "TIMESTAMP": k} for k in range(20)]
    lines += [{"USER_ID": {"id": 5}, "ITEM_ID": "i1", "TIMESTAMP": 1},
              {"USER_ID": "u1", "ITEM_ID": ["a", "b"], "TIMESTAMP": 2},
              {"USER_ID": "u1", "ITEM_ID": "i2", "TIMESTAMP": {"s": 3}}]
    path = tmp_path / "nested.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    job = import_file(store, group, "Interactions", path, max_rejected_fraction=0.2)
    assert job.rows_accepted == 20
    assert [(r["row"], r["field"]) for r in job.first_rejects] == [(21, "USER_ID"), (22, "ITEM_ID"), (23, "TIMESTAMP")]
    assert "a nested object ({id}) where USER_ID takes one value" in job.first_rejects[0]["reason"]
    assert "write one row per id" in job.first_rejects[1]["reason"]
    assert not any(u.startswith("{") for u in datasets.read_interactions(store, group)["USER_ID"])
    with open(job.rejects_path, newline="", encoding="utf-8") as fh:
        rejected = list(csv.DictReader(fh))
    assert rejected[0]["USER_ID"] == '{"id": 5}'   # the source value, as JSON


def test_a_duration_is_never_a_user_id(store, group, tmp_path):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"USER_ID": pa.array([1_600_000_000, 5], pa.duration("s")), "ITEM_ID": ["i1", "i2"],
                             "TIMESTAMP": [1, 2]}), path)
    with pytest.raises(ImportFailed, match="row 1 USER_ID: a duration where USER_ID takes text"):
        import_file(store, group, "Interactions", path)
    assert datasets.read_interactions(store, group).empty


# -- over-long cells ---------------------------------------------------------------------------------------------


def test_over_long_cells_truncated_or_rejected_per_personalize_limits(store, group, tmp_path):
    path = tmp_path / "long.csv"
    rows = [["ok", "rock", "c", "x" * 25_000],
            ["i" * 257, "rock", "c", ""],          # id over 256: rejected
            ["cat", "g" * 1_001, "c", ""],         # a categorical value over 1,000: rejected
            ["fine", "a|" + "b" * 1_000, "c", ""]]  # each categorical value within 1,000: accepted
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["ITEM_ID", "GENRES", "COLOR", "DESCRIPTION"]] + rows)
    job = import_items(store, group, path)
    assert [(r["row"], r["field"]) for r in job.first_rejects] == [(3, "ITEM_ID"), (4, "GENRES")]
    assert "longer than 256 characters" in job.first_rejects[0]["reason"]
    stored = items_by_id(store, group)
    assert sorted(stored) == ["fine", "ok"]
    assert len(stored["ok"]["DESCRIPTION"]) == 20_000   # textual: truncated, as Personalize does


# -- hostile CSV records -------------------------------------------------------------------------------------------


def good_lines(n, start=0):
    return "".join(f"u{k},i{k % 97},{1_600_000_000 + k}\n" for k in range(start, start + n))


HOSTILE = {
    "ragged": ("u1,i1,1,4,5\n", "5 fields where the header has 3"),
    "nul": ("\x00\x00\x00\x00\n", "1 field and NUL bytes"),
    "unclosed quote": ('u1,"i1,5\n', "a quoted value opened here is never closed"),
    "short": ("u1\n", "1 field where the header has 3"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_a_malformed_csv_record_is_one_rejected_row_with_its_line(store, group, tmp_path, case, where):
    bad, reason = HOSTILE[case]
    before = {"first": 0, "middle": 1_500, "last": 3_000}[where]
    text = "USER_ID,ITEM_ID,TIMESTAMP\n" + good_lines(before) + bad + good_lines(3_000 - before, before)
    path = tmp_path / "hostile.csv"
    path.write_text(text, encoding="utf-8", newline="")
    job = import_file(store, group, "Interactions", path)
    line = before + 2
    assert (job.rows_read, job.rows_accepted, job.rows_rejected) == (3_001, 3_000, 1)
    assert job.first_rejects == [{"row": line, "field": "(line)", "reason": job.first_rejects[0]["reason"]}]
    assert job.first_rejects[0]["reason"].startswith(f"line {line}: ") and reason in job.first_rejects[0]["reason"]
    frame = datasets.read_interactions(store, group)
    assert sorted(frame["USER_ID"]) == sorted(f"u{k}" for k in range(3_000))   # none lost, none doubled


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_line_that_is_not_utf8_is_one_rejected_row(store, group, tmp_path, fmt):
    if fmt == "csv":
        good = [f"u{k},i{k},{k}".encode() for k in range(30)]
        bad = "Jos\xe9,caf\xe9,5".encode("latin-1")
        head = [b"USER_ID,ITEM_ID,TIMESTAMP"]
    else:
        good = [json.dumps({"USER_ID": f"u{k}", "ITEM_ID": f"i{k}", "TIMESTAMP": k}).encode() for k in range(30)]
        bad = '{"USER_ID": "Jos\xe9", "ITEM_ID": "i", "TIMESTAMP": 5}'.encode("latin-1")
        head = []
    path = tmp_path / f"mixed.{fmt}"
    path.write_bytes(b"\n".join(head + good[:10] + [bad] + good[10:]) + b"\n")
    job = import_file(store, group, "Interactions", path)
    row = 12 if fmt == "csv" else 11
    assert (job.rows_accepted, job.rows_rejected, job.first_rejects[0]["row"]) == (30, 1, row)
    assert "not UTF-8 text (byte 0xe9); re-save the file as UTF-8" in job.first_rejects[0]["reason"]


def test_a_record_over_the_block_size_in_an_ignored_column_imports(store, group, tmp_path):
    blob = "z" * (3 << 20)
    text = ("USER_ID,ITEM_ID,TIMESTAMP,BLOB\n" + good_lines(30_000).replace("\n", ",b\n") + f"u-big,i1,5,{blob}\n"
            + good_lines(30_000, 30_000).replace("\n", ",b\n"))
    path = tmp_path / "big.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as fh:
        fh.write(text)
    job = import_file(store, group, "Interactions", path)
    assert (job.rows_accepted, job.rows_rejected, job.ignored_columns) == (60_001, 0, ["BLOB"])
    assert (datasets.read_interactions(store, group)["USER_ID"] == "u-big").sum() == 1


def test_a_record_over_the_record_limit_is_one_rejected_row(store, group, tmp_path):
    from recsys.csv_reader import MAX_RECORD_BYTES

    path = tmp_path / "huge.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("USER_ID,ITEM_ID,TIMESTAMP\n" + good_lines(100))
        fh.write("u-huge,i1," + "9" * (MAX_RECORD_BYTES + 10) + "\n")
        fh.write(good_lines(100, 100))
    job = import_file(store, group, "Interactions", path)
    assert (job.rows_accepted, job.rows_rejected) == (200, 1)
    assert job.first_rejects[0]["row"] == 102 and "a record of more than 16 MiB" in job.first_rejects[0]["reason"]


def test_multi_line_quoted_values_keep_their_newlines_and_line_numbers(store, group, tmp_path):
    path = tmp_path / "items.csv"
    path.write_text('ITEM_ID,DESCRIPTION\ni1,"two\nlines"\ni2,"say ""hi""\r\nnow"\ni3,plain,extra\ni4,ok\n',
                    newline="")
    job = import_items(store, group, path)
    assert [(r["row"], r["reason"][:8]) for r in job.first_rejects] == [(4, "line 6: ")]
    stored = items_by_id(store, group)
    assert stored["i1"]["DESCRIPTION"] == "two\nlines" and stored["i2"]["DESCRIPTION"] == 'say "hi"\r\nnow'
    assert sorted(stored) == ["i1", "i2", "i4"]


def test_a_wide_header_is_refused_before_parsing(store, group, tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{k}" for k in range(100_000)) + "\n" + ",".join("1" * 100_000) + "\n")
    with pytest.raises(ImportFailed, match=f"100,000 columns in its header .*the limit is {MAX_COLUMNS:,}"):
        import_file(store, group, "Interactions", path)


def test_wide_parquet_avro_and_json_lines_are_refused(store, group, tmp_path):
    n = MAX_COLUMNS + 1
    names = ["USER_ID", "ITEM_ID", "TIMESTAMP"] + [f"x{k}" for k in range(n)]
    pq.write_table(pa.table({name: ["1"] for name in names}), tmp_path / "wide.parquet")
    with pytest.raises(ImportFailed, match=f"wide.parquet has {n + 3:,} columns in its schema"):
        import_file(store, group, "Interactions", tmp_path / "wide.parquet")
    schema = {"type": "record", "name": "Wide", "fields": [{"name": name, "type": "string"} for name in names]}
    with open(tmp_path / "wide.avro", "wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(schema), [{name: "1" for name in names}])
    with pytest.raises(ImportFailed, match=f"wide.avro has {n + 3:,} columns in its schema"):
        import_file(store, group, "Interactions", tmp_path / "wide.avro")
    lines = [json.dumps({"USER_ID": "u", "ITEM_ID": "i", "TIMESTAMP": k}) for k in range(20)]
    lines.append(json.dumps({name: "1" for name in names}))
    (tmp_path / "wide.jsonl").write_text("\n".join(lines) + "\n")
    job = import_file(store, group, "Interactions", tmp_path / "wide.jsonl")
    assert job.rows_accepted == 20 and job.first_rejects[0]["row"] == 21
    assert f"an object with {n + 3:,} keys" in job.first_rejects[0]["reason"]


def write_text(path, text):
    path.write_bytes(text.encode("utf-8"))
    return path


def tolerant_records(path, n_fields):
    reader = TolerantReader(path, ",", n_fields, 0, 1)
    out = []
    while (got := reader.next_record()) is not None:
        out.append(got)
    reader.close()
    return out


CSV_ALPHABET = st.sampled_from(["a", "b", "é", ",", '"', '""', "\n", "\r\n", "\r", " ", "|", "\x00"])


@FUZZ
@given(text=st.lists(CSV_ALPHABET, max_size=60).map("".join))
def test_tolerant_reader_agrees_with_pyarrow_where_pyarrow_reads(tmp_path_factory, text):
    path = write_text(tmp_path_factory.mktemp("csv") / "x.csv", text)
    options = dict(read_options=pacsv.ReadOptions(column_names=["a", "b", "c"]),
                   parse_options=pacsv.ParseOptions(newlines_in_values=True),
                   convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in "abc"},
                                                        strings_can_be_null=False, quoted_strings_can_be_null=False))
    try:
        expected = [list(r.values()) for r in pacsv.read_csv(path, **options).to_pylist()]
    except pa.ArrowInvalid:
        expected = None
    got = tolerant_records(path, 3)
    if expected is None:   # pyarrow refuses the text: the tolerant reader names a bad record, or finds none
        assert any(reason for *_, reason in got) or not got
    elif any("never closed" in reason for *_, reason in got):
        pass   # a quote left open (pyarrow closes it at the end of the file, or at a later quote): rejected here
    elif not any("\n" in v or "\r" in v for row in expected for v in row):
        assert [fields for _, fields, reason in got] == expected and not any(reason for *_, reason in got)


@FUZZ
@given(bad_at=st.lists(st.integers(0, 1_999).map(lambda k: 2 * k), max_size=12, unique=True),
       kind=st.sampled_from(["ragged", "nul", "quote", "utf8"]), window=st.sampled_from([1, 2_000, 30_000]),
       newline=st.sampled_from([b"\n", b"\r\n"]), blank_at=st.lists(st.integers(0, 3_999), max_size=3),
       quoted=st.booleans())
def test_resuming_pyarrow_after_bad_records_loses_and_doubles_nothing(tmp_path_factory, bad_at, kind, window,
                                                                        newline, blank_at, quoted):
    bad = {"ragged": b"x,y\n", "nul": b"\x00\n", "quote": b'q,"open,1\n', "utf8": b"q,\xff,1\n"}[kind]
    lines = [(b'u%d,"i%d",%d\n' if quoted and k % 3 == 0 else b"u%d,i%d,%d\n") % (k, k, k) for k in range(4_000)]
    for k in sorted(bad_at, reverse=True):
        lines.insert(k, bad)
    for k in blank_at:
        lines[k] = b"\n" + lines[k]
    path = tmp_path_factory.mktemp("csv") / "x.csv"
    path.write_bytes((b"USER_ID,ITEM_ID,TIMESTAMP\n" + b"".join(lines)).replace(b"\n", newline))
    names, start, line = read_header(path, ",")
    tables = list(read_csv_tables(path, ",", names, start, line, block_size=4_096, window=window))
    good, rejected = [], []
    for table in tables:
        rows = table.to_pylist()
        for row in rows:
            (rejected if row.get(BAD_RECORD) else good).append(row)
    assert [r["USER_ID"] for r in good] == [f"u{k}" for k in range(4_000)]
    assert len(rejected) == len(bad_at)


# -- fuzzed files of every format: no uncaught exception, the dataset intact after a failure ------------------------


def fresh_store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("ws"))
    store.create_dataset_group("g")
    base = tmp_path_factory.mktemp("base") / "base.csv"
    base.write_text("USER_ID,ITEM_ID,TIMESTAMP\n" + good_lines(30))
    import_file(store, "g", "Interactions", base)
    return store


def snapshot(store):
    return datasets.read_interactions(store, "g").to_csv(index=False)


def import_checked(store, path, **kwargs):
    """Import `path`; a failure must be ImportFailed and leave the data as it was; a success must add up."""
    before = snapshot(store)
    mode = kwargs.pop("mode", "INCREMENTAL")
    try:
        job = import_file(store, "g", "Interactions", path, mode=mode, max_rejected_fraction=0.5, **kwargs)
    except ImportFailed as exc:
        assert exc.job is not None and exc.job.status == "CREATE FAILED"
        assert snapshot(store) == before
        return None
    assert job.rows_accepted + job.rows_rejected + job.rows_excluded == job.rows_read
    assert len(datasets.read_interactions(store, "g")) == 30 + job.rows_accepted
    return job


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.text(max_size=20), st.text(alphabet="0123456789-:T ", max_size=20))
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=5), inner, max_size=3), max_leaves=6)


@FUZZ
@given(records=st.lists(st.dictionaries(st.sampled_from(["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_VALUE", "X"]),
                                        JSON_VALUES, max_size=5), min_size=1, max_size=12),
       junk=st.lists(st.sampled_from(["{", "[1]", "", "\x00", '"s"', "{\"USER_ID\": NaN}"]), max_size=3))
def test_fuzzed_json_lines(tmp_path_factory, records, junk):
    store = fresh_store(tmp_path_factory)
    path = tmp_path_factory.mktemp("f") / "x.jsonl"
    path.write_text("\n".join([json.dumps(r) for r in records] + junk) + "\n", encoding="utf-8")
    import_checked(store, path)


@FUZZ
@given(rows=st.lists(st.lists(st.text(st.sampled_from('ab1,"\n\r\x00 |é'), max_size=8), min_size=1, max_size=5),
                     min_size=1, max_size=15),
       raw=st.binary(max_size=40), header=st.booleans(), delimiter=st.sampled_from([",", ";", "\t"]))
def test_fuzzed_csv(tmp_path_factory, rows, raw, header, delimiter):
    store = fresh_store(tmp_path_factory)
    path = tmp_path_factory.mktemp("f") / "x.csv"
    lines = [delimiter.join(r) for r in rows]
    head = "USER_ID,ITEM_ID,TIMESTAMP".replace(",", delimiter) + "\n" if header else ""
    path.write_bytes(head.encode() + "\n".join(lines).encode("utf-8") + raw)
    kwargs = {} if header else {"header": False, "column_map": {"0": "USER_ID", "1": "ITEM_ID", "2": "TIMESTAMP"}}
    try:
        import_checked(store, path, delimiter=delimiter, **kwargs)
    except ValidationError as exc:   # a mapping onto columns the file does not have: refused before the job
        assert "not in the file" in str(exc)


ARROW_COLUMNS = {
    "string": (pa.string(), st.text(max_size=10)),
    "int": (pa.int64(), st.integers(-2**63, 2**63 - 1)),
    "float": (pa.float64(), st.floats()),
    "bool": (pa.bool_(), st.booleans()),
    "decimal": (pa.decimal128(20, 4), st.decimals(min_value=-10**15, max_value=10**15, places=4, allow_nan=False)),
    "date": (pa.date32(), st.dates()),
    "timestamp": (pa.timestamp("ms", "UTC"), st.datetimes(timezones=st.just(dt.timezone.utc))),
    "time": (pa.time64("us"), st.times()),
    "binary": (pa.binary(), st.binary(max_size=6)),
    "duration": (pa.duration("s"), st.integers(-10**9, 10**9).map(lambda s: dt.timedelta(seconds=s))),
    "list": (pa.list_(pa.string()), st.lists(st.text(max_size=4), max_size=3)),
    "struct": (pa.struct([("a", pa.int64())]), st.fixed_dictionaries({"a": st.integers(-5, 5)})),
}


@st.composite
def typed_table(draw):
    n = draw(st.integers(1, 8))
    columns = {}
    for name in ("USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_VALUE"):
        arrow_type, values = ARROW_COLUMNS[draw(st.sampled_from(sorted(ARROW_COLUMNS)))]
        columns[name] = pa.array(draw(st.lists(st.none() | values, min_size=n, max_size=n)), arrow_type)
    return pa.table(columns)


@FUZZ
@given(table=typed_table())
def test_fuzzed_parquet(tmp_path_factory, table):
    store = fresh_store(tmp_path_factory)
    path = tmp_path_factory.mktemp("f") / "x.parquet"
    pq.write_table(table, path)
    import_checked(store, path)


AVRO_TYPES = {
    "string": ("string", st.text(max_size=10)),
    "long": ("long", st.integers(-2**63, 2**63 - 1)),
    "double": ("double", st.floats()),
    "boolean": ("boolean", st.booleans()),
    "uuid": ({"type": "string", "logicalType": "uuid"}, st.uuids()),
    "decimal": ({"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
                st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False)),
    "date": ({"type": "int", "logicalType": "date"}, st.dates()),
    "timestamp-millis": ({"type": "long", "logicalType": "timestamp-millis"},
                         st.datetimes(min_value=dt.datetime(1900, 1, 1), timezones=st.just(dt.timezone.utc))),
    "time-micros": ({"type": "long", "logicalType": "time-micros"}, st.times()),
    "bytes": ("bytes", st.binary(max_size=6)),
    "array": ({"type": "array", "items": "string"}, st.lists(st.text(max_size=4), max_size=3)),
    "map": ({"type": "map", "values": "long"}, st.dictionaries(st.text(max_size=3), st.integers(0, 9), max_size=2)),
}


@st.composite
def avro_file(draw):
    fields, strategies = [], {}
    for k, name in enumerate(("USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_VALUE")):
        avro_type, values = AVRO_TYPES[draw(st.sampled_from(sorted(AVRO_TYPES)))]
        if isinstance(avro_type, dict) and avro_type["type"] in ("array", "map"):
            avro_type = dict(avro_type)
        fields.append({"name": name, "type": ["null", avro_type]})
        strategies[name] = st.none() | values
    records = draw(st.lists(st.fixed_dictionaries(strategies), min_size=1, max_size=8))
    return {"type": "record", "name": "Fuzz", "fields": fields}, records


@FUZZ
@given(avro=avro_file())
def test_fuzzed_avro(tmp_path_factory, avro):
    schema, records = avro
    store = fresh_store(tmp_path_factory)
    path = tmp_path_factory.mktemp("f") / "x.avro"
    with open(path, "wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(schema), records)
    import_checked(store, path)
