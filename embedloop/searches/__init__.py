"""Searches people ran, and what they teach: the search log (``log``), what reviewers see of
it (``publication``, with queries ``scrub``-bed first) and what their judgments become
(``judgments``: training pairs and the ``searches`` evaluation set). Plain Python and pandas:
the API writes the log, the ``search_log`` assets read it."""
