"""Argilla without Elasticsearch: a search engine served from Argilla's SQL database.

``matching`` is plain Python (no argilla_server import) so the project's tests can check it;
``engine`` and ``launch`` run inside the Argilla server's own virtualenv.
"""
