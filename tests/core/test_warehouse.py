import duckdb
import pandas as pd
import pytest

from embedloop.warehouse import Table, read_table, replace_tables

A = Table("a", {"id": "VARCHAR", "n": "INTEGER"})
B = Table("b", {"id": "VARCHAR", "n": "INTEGER"})


def test_replace_is_atomic_across_tables() -> None:
    conn = duckdb.connect()
    replace_tables(conn, {A: pd.DataFrame({"id": ["x"], "n": [1]})})
    bad = pd.DataFrame({"id": ["y"], "n": ["not a number"]})
    with pytest.raises(duckdb.Error):
        replace_tables(conn, {A: pd.DataFrame({"id": ["z"], "n": [2]}), B: bad})
    assert read_table(conn, A).to_dict("records") == [{"id": "x", "n": 1}]
    assert read_table(conn, B).empty


def test_missing_table_reads_as_empty_frame_with_schema_columns() -> None:
    frame = read_table(duckdb.connect(), Table("nothing", A.schema))
    assert list(frame.columns) == ["id", "n"] and frame.empty


def test_frame_missing_a_column_is_rejected_before_writing() -> None:
    conn = duckdb.connect()
    with pytest.raises(ValueError, match="lacks columns"):
        replace_tables(conn, {A: pd.DataFrame({"id": ["x"]})})


def test_a_failed_insert_reports_its_own_error_not_the_cleanup() -> None:
    conn = duckdb.connect()
    bad = pd.DataFrame({"id": ["y"], "n": ["not a number"]})
    with pytest.raises(duckdb.ConversionException, match="not a number"):
        replace_tables(conn, {A: bad})
