"""Retrieval for people: the search code path (``searcher``) and the HTTP API (``app``)."""
