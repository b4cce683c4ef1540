"""Synthetic (query, passage, negative) pairs: LLM-free pseudo-queries or an LLM through
distilabel, generated incrementally, then filtered."""
