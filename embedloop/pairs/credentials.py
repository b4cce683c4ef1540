"""The LLM endpoint's secret, importable without distilabel.

Resources and assets hold it in every process; importing ``llm_backends`` for it would load
distilabel (and switch the process to the fork-server start method) even when only the
offline generator runs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LLMCredentials:
    """The LLM endpoint's secret. Endpoint, model and generation settings live in the config
    file (``synthetic.llm``); local servers (vLLM, Ollama, llama.cpp) need no key."""

    api_key: str | None = None
