import duckdb
import pandas as pd
import pytest

from assets.warehouse import read_table, replace_tables

SCHEMA = {"id": "VARCHAR", "n": "INTEGER"}


def test_replace_is_atomic_across_tables() -> None:
    conn = duckdb.connect()
    replace_tables(conn, {"a": (SCHEMA, pd.DataFrame({"id": ["x"], "n": [1]}))})
    bad = pd.DataFrame({"id": ["y"], "n": ["not a number"]})
    with pytest.raises(duckdb.Error):
        replace_tables(
            conn,
            {
                "a": (SCHEMA, pd.DataFrame({"id": ["z"], "n": [2]})),
                "b": (SCHEMA, bad),
            },
        )
    assert read_table(conn, "a", SCHEMA).to_dict("records") == [{"id": "x", "n": 1}]
    assert read_table(conn, "b", SCHEMA).empty


def test_missing_table_reads_as_empty_frame_with_schema_columns() -> None:
    frame = read_table(duckdb.connect(), "nothing", SCHEMA)
    assert list(frame.columns) == ["id", "n"] and frame.empty


def test_frame_missing_a_column_is_rejected_before_writing() -> None:
    conn = duckdb.connect()
    with pytest.raises(ValueError, match="lacks columns"):
        replace_tables(conn, {"a": (SCHEMA, pd.DataFrame({"id": ["x"]}))})
