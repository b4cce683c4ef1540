"""The local Argilla stack (see stack.py) and its SQL search engine (see sqlsearch/)."""
