"""Uploaded files in the workbench: what the preview shows and which columns the mapping guesses, on files
shaped like real exports (JSON lines reviews, session logs, context columns)."""

from __future__ import annotations

import json

import pytest

from recsys import uploads
from recsys.datasets import count_rows
from recsys.exceptions import ConflictError, ImportFailed, ValidationError
from recsys.ingest import import_file
from recsys.schema import default_schema

INTERACTION_FIELDS = default_schema("Interactions", None).names


def test_the_preview_of_json_lines_shows_only_the_files_own_fields(tmp_path):
    path = tmp_path / "reviews.json"
    path.write_text("\n".join(json.dumps({"reviewerID": f"u{k}", "asin": f"B{k:09d}", "overall": 5.0,
                                          "unixReviewTime": 1393545600 + k}) for k in range(5)) + "\n")
    preview = uploads.preview(path)
    assert list(preview.columns) == ["reviewerID", "asin", "overall", "unixReviewTime"]
    assert uploads.guess_mapping(preview, INTERACTION_FIELDS) == {"unixReviewTime": "TIMESTAMP"}


def test_two_id_like_columns_are_not_both_guessed_as_the_user_and_the_guess_imports(store, tmp_path):
    """A session log has session_id and user_id: guessing both as USER_ID made the default mapping fail."""
    path = tmp_path / "views.csv"
    path.write_text("session_id;user_id;item_id;timeframe;eventdate\n"
                    "1;NA;81766;526309;2016-05-09\n1;NA;31331;1031018;2016-05-09\n2;278;32118;0;2016-05-10\n")
    preview = uploads.preview(path)
    guessed = uploads.guess_mapping(preview, INTERACTION_FIELDS)
    assert guessed == {"user_id": "USER_ID", "item_id": "ITEM_ID", "eventdate": "TIMESTAMP"}
    store.create_dataset_group("views")
    job = import_file(store, "views", "Interactions", path, column_map=guessed, date_columns=["eventdate"])
    assert job.rows_accepted == 3


def test_a_time_named_column_of_words_is_a_context_not_the_timestamp(store, tmp_path):
    path = tmp_path / "ratings.txt"
    path.write_text("userid,itemid,rating,Time,Location,Companion\n"
                    "1123,tt1499658,2,Weekend,Home,Partner\n1123,tt0405422,4,NA,NA,NA\n1124,tt0405422,3,Weekday,Cinema,Alone\n")
    guessed = uploads.guess_mapping(uploads.preview(path), INTERACTION_FIELDS)
    assert guessed == {"userid": "USER_ID", "itemid": "ITEM_ID", "rating": "EVENT_VALUE"}
    store.create_dataset_group("movies")
    with pytest.raises(ValidationError, match="no column for required field"):
        import_file(store, "movies", "Interactions", path, column_map=guessed)


def test_after_a_failed_first_import_the_import_with_the_right_schema_works(store, tmp_path):
    """movies.csv mapped onto fields the default Items schema lacks: the job fails (its dataset, made with the
    default schema, stays empty), and the import that brings its own schema must then work; it was refused with
    "already has a different schema"."""
    path = tmp_path / "movies.csv"
    path.write_text("movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n2,Jumanji (1995),Adventure\n")
    store.create_dataset_group("movies")
    mapping = {"movieId": "ITEM_ID", "title": "TITLE", "genres": "GENRES"}
    with pytest.raises(ValidationError, match="not a field of the Items schema"):
        import_file(store, "movies", "Items", path, column_map=mapping)
    schema = {"type": "record", "name": "Items", "namespace": "com.amazonaws.personalize.schema", "version": "1.0",
              "fields": [{"name": "ITEM_ID", "type": "string"},
                         {"name": "TITLE", "type": "string", "textual": True},
                         {"name": "GENRES", "type": "string", "categorical": True}]}
    job = import_file(store, "movies", "Items", path, column_map=mapping, schema=schema)
    assert job.rows_accepted == 2


def test_a_dataset_with_rows_keeps_its_schema_and_its_rows(store, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,1\nu2,i2,2\n")
    store.create_dataset_group("shop")
    import_file(store, "shop", "Interactions", good)
    other = {"type": "record", "name": "Interactions", "namespace": "com.amazonaws.personalize.schema",
             "version": "1.0", "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
                                          {"name": "TIMESTAMP", "type": "long"}]}
    with pytest.raises(ConflictError, match="already has a different schema"):
        import_file(store, "shop", "Interactions", good, schema=other)
    assert count_rows(store, "shop", "Interactions")["total"] == 2


def test_the_missing_time_hint_points_at_the_forms_checkbox(store, tmp_path):
    store.create_dataset_group("g")
    path = tmp_path / "plays.csv"
    path.write_text("user,artist\nu1,a\n")
    with pytest.raises(ImportFailed) as failed:
        import_file(store, "g", "interactions", path, column_map={"user": "USER_ID", "artist": "ITEM_ID"})
    worded = uploads.form_wording(failed.value)
    assert "tick 'The file has no time column'" in worded and "--" not in worded
