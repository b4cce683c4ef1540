"""Helpers the tests share: a small corpus, one config writer, tiny warehouses and models.

Fixtures live in the ``conftest.py`` of the folder that needs them; plain functions and
constants that test modules import live here, so no test module imports another.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
