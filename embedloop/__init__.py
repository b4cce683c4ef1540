"""embedloop's core: the domain in plain Python, no Dagster and no ZenML.

Configuration (``config``), the DuckDB warehouse and its tables (``warehouse``), ingestion,
chunking, pair generation (``pairs``), hard negatives and the embedding cache, splits,
candidate pairs and the training set, review records and feedback (``review``), search.
``training/`` and ``quality/`` build on this package, ``assets/`` wires it into Dagster and
``orchestration/`` runs it; the layers are checked by import-linter (pyproject.toml).
"""
