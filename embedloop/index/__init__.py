"""The production vector index: every live chunk embedded by the production model.

``build.refresh_index`` keeps it current (the ``production_index`` asset calls it);
``embedloop.serving`` searches it. DuckDB with exact search by default, PostgreSQL with
pgvector (HNSW) when ``$EMBEDLOOP_INDEX_URL`` names a server.
"""
