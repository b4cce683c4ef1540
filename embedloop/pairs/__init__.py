"""Synthetic (query, passage, negative) pairs: LLM-free pseudo-queries in-process or an LLM
through distilabel, generated incrementally, then screened (copies, base-model round trip)."""
