"""Benchmarks: scripts that measure the product and print their figures.

Run each from the repository root as a module (``python -m bench.ingest_bench``), so that
``bench`` and the product's packages import without editing ``sys.path``. The product never
imports this package (an import-linter contract in pyproject.toml): a benchmark may use
everything, nothing may depend on a benchmark.
"""
