"""Uploaded files in the workbench: what the preview shows and which columns the mapping guesses, on files
shaped like real exports (JSON lines reviews, session logs, context columns)."""

from __future__ import annotations

import json

import pytest

from recsys import uploads
from recsys.exceptions import ValidationError
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
