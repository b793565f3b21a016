"""The data commands: init, create-group, import, datasets, create-tracker, put-events (click CliRunner)."""

import json

from click.testing import CliRunner

from recsys.cli import main
from recsys.store import Store


def run(home, *args, input=None):
    return CliRunner().invoke(main, ["--home", str(home), *args], input=input, catch_exceptions=False)


def test_init_and_create_group(tmp_path):
    home = tmp_path / "ws"
    result = run(home, "init")
    assert result.exit_code == 0 and result.output.strip() == str(home.resolve())
    assert (home / "recsys.db").exists()
    result = run(home, "create-group", "shop", "--domain", "ecommerce")
    assert result.exit_code == 0 and "ECOMMERCE" in result.output
    assert Store(home).get_dataset_group("shop")["domain"] == "ECOMMERCE"
    again = run(home, "create-group", "shop")
    assert again.exit_code != 0 and "already exists" in again.output
    assert len(again.output.strip().splitlines()) == 1


def test_import_headerless_with_map_and_rejects(tmp_path):
    home = tmp_path / "ws"
    run(home, "create-group", "movies")
    data = tmp_path / "u.data"
    data.write_text("".join(f"{u}\t{i}\t{r}\t{881250949 + k}\n"
                            for k, (u, i, r) in enumerate([(1, 2, 3), (1, 3, 4), (2, 2, 5)] * 10)) + "3\t4\tx\t5\n")
    result = run(home, "import", "--group", "movies", "--type", "interactions", "--no-header",
                 "--map", "0=USER_ID", "--map", "1=ITEM_ID", "--map", "2=EVENT_VALUE", "--map", "3=TIMESTAMP",
                 str(data))
    assert result.exit_code == 0, result.output
    assert "30 rows accepted, 1 rejected" in result.output
    assert "rejected.csv" in result.output
    listing = run(home, "datasets", "--group", "movies")
    assert "30 rows (30 bulk, 0 streamed)" in listing.output


def test_import_failure_is_one_line_and_nonzero(tmp_path):
    home = tmp_path / "ws"
    run(home, "create-group", "g")
    bad = tmp_path / "bad.csv"
    bad.write_text("A,B\n1,2\n")
    result = run(home, "import", "-g", "g", "--type", "interactions", str(bad))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "USER_ID" in lines[0] and "--map" in lines[0]
    missing_group = run(home, "import", "-g", "nope", "--type", "items", str(bad))
    assert missing_group.exit_code == 1 and "does not exist" in missing_group.output


def test_import_with_schema_dates_and_excludes_json(tmp_path):
    home = tmp_path / "ws"
    run(home, "create-group", "retail")
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "record", "name": "Interactions", "fields": [
        {"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"}, {"name": "EVENT_VALUE", "type": ["null", "float"]}]}))
    csv_path = tmp_path / "sales.csv"
    csv_path.write_text("InvoiceNo;CustomerID;StockCode;InvoiceDate;Quantity\n"
                        "1;c1;s1;2011-01-01 10:00:00;2\nC2;c1;s1;2011-01-01 11:00:00;-2\n3;c2;s2;2011-01-02 09:30:00;1\n")
    result = run(home, "import", "-g", "retail", "--type", "interactions", "--schema", str(schema),
                 "--map", "CustomerID=USER_ID", "--map", "StockCode=ITEM_ID", "--map", "InvoiceDate=TIMESTAMP",
                 "--map", "Quantity=EVENT_VALUE", "--date-column", "InvoiceDate", "--exclude", "InvoiceNo=^C",
                 "--json", str(csv_path))
    assert result.exit_code == 0, result.output
    job = json.loads(result.output)
    assert (job["rows_accepted"], job["rows_excluded"], job["status"]) == (2, 1, "ACTIVE")
    assert job["ignored_columns"] == ["InvoiceNo"]


def test_tracker_and_put_events(tmp_path):
    home = tmp_path / "ws"
    run(home, "create-group", "g")
    tracking_id = run(home, "create-tracker", "-g", "g").output.strip()
    result = run(home, "put-events", "--tracking-id", tracking_id, "--session-id", "s1", "--user-id", "u1",
                 '[{"eventType": "click", "itemId": "i1", "sentAt": 1700000000, "eventId": "e1"}]')
    assert result.exit_code == 0 and "Recorded 1 event(s)" in result.output
    again = run(home, "put-events", "--tracking-id", tracking_id, "--session-id", "s1", "-",
                input='{"eventType": "click", "itemId": "i1", "sentAt": 1700000000, "eventId": "e1"}')
    assert "Recorded 0 event(s); 1 duplicate(s)" in again.output
    bad = run(home, "put-events", "--tracking-id", tracking_id, "--session-id", "s1", '[{"itemId": "i1"}]')
    assert bad.exit_code == 1 and "eventList[0].eventType is required" in bad.output


def test_group_defaults_to_the_only_one_and_is_required_among_several(tmp_path):
    home = tmp_path / "ws"
    empty = run(home, "datasets")
    assert empty.exit_code == 2 and "no dataset group yet" in empty.output
    run(home, "create-group", "shop")
    assert run(home, "datasets").exit_code == 0
    run(home, "create-group", "books")
    several = run(home, "datasets")
    assert several.exit_code == 2 and "2 dataset groups (books, shop)" in several.output
    assert run(home, "datasets", "--group", "books").exit_code == 0


def test_import_of_real_play_counts_without_time(tmp_path, shared_datasets):
    """last.fm's user_artists.dat has no time column: --fixed-timestamp now imports it, in the file's order."""
    home = tmp_path / "ws"
    run(home, "create-group", "music")
    plays = shared_datasets / "lastfm-hetrec2011-2k" / "user_artists.dat"
    args = ["import", "--group", "music", "--type", "interactions", "--delimiter", "\t", "--map", "userID=USER_ID",
            "--map", "artistID=ITEM_ID", "--map", "weight=EVENT_VALUE", str(plays)]
    refused = CliRunner().invoke(main, ["--home", str(home), *args])
    assert refused.exit_code != 0 and "--fixed-timestamp now" in refused.output
    result = run(home, *args, "--fixed-timestamp", "now", "--json")
    assert result.exit_code == 0, result.output
    job = json.loads(result.output)
    assert job["rows_accepted"] == 92_834 and job["rows_rejected"] == 0 and job["fixed_timestamp"] > 1_700_000_000
