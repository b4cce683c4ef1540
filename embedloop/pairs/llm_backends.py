"""distilabel LLMs for the ``llm`` generator, built from ``LLMSettings``.

No ``from __future__ import annotations`` here: distilabel and pydantic read these classes'
annotations at runtime.
"""

# isort: off
import embedloop.pairs.forkserver  # noqa: F401  (first: distilabel reads it on import)
# isort: on

import asyncio
import importlib.util
import inspect
from pathlib import Path
from typing import Any

import openai
from distilabel.mixins.runtime_parameters import RuntimeParameter
from distilabel.models import OpenAILLM
from distilabel.models.llms.base import LLM
from distilabel.models.llms.utils import prepare_output
from distilabel.typing import FormattedInput, GenerateOutput
from pydantic import Field, PrivateAttr

from embedloop.config import LLMSettings
from embedloop.pairs.credentials import LLMCredentials  # noqa: F401  (re-exported)
from embedloop.pairs.packaged_models import assemble, packaged_model

# Names people write for the output length; distilabel's LLMs all call it max_new_tokens.
_MAX_TOKENS_ALIASES = ("max_tokens", "max_completion_tokens", "max_length")

# Backends that load weights in-process, and the package each one needs.
_LOCAL_BACKEND_PACKAGES = {"vllm": "vllm", "transformers": "transformers"}


class BoundedOpenAILLM(OpenAILLM):
    """``OpenAILLM`` with a cap on in-flight requests and per-request fault isolation.

    distilabel sends every input of a batch at once and gathers them with
    ``asyncio.gather``: one request that still fails after the client's own retries fails
    the whole batch, and distilabel then blanks every row of it. Here a failed request
    becomes a ``None`` generation for its own row only, so its neighbours survive.
    """

    concurrency: int = Field(default=8, gt=0)
    # The base class types this as int, but sub-second timeouts are useful (tests, local
    # servers) and the OpenAI client takes floats.
    timeout: RuntimeParameter[float] = Field(
        default=120,
        description="The maximum time in seconds to wait for a response from the API.",
    )

    _semaphore: asyncio.Semaphore | None = PrivateAttr(default=None)
    # The last request's failure, for the message when too many failed.
    _last_error: str | None = PrivateAttr(default=None)

    @property
    def last_error(self) -> str | None:
        return self._last_error

    def load(self) -> None:
        super().load()
        # Created here, inside the step's process, never pickled with the step.
        self._semaphore = asyncio.Semaphore(self.concurrency)

    def unload(self) -> None:
        self._semaphore = None
        super().unload()

    @property
    def generate_parameters(self) -> list[inspect.Parameter]:
        # Describe the wrapped method's keyword arguments, not this wrapper's **kwargs.
        return list(inspect.signature(OpenAILLM.agenerate).parameters.values())[1:]

    async def agenerate(  # type: ignore[override]
        self, input: FormattedInput, num_generations: int = 1, **kwargs: Any
    ) -> GenerateOutput:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.concurrency)
        async with self._semaphore:
            try:
                return await super().agenerate(
                    input=input, num_generations=num_generations, **kwargs
                )
            except openai.APIError as err:
                # The client has already retried 429/5xx/timeouts max_retries times.
                self._last_error = (
                    f"request to {self.base_url} failed after {self.max_retries} retries:"
                    f" {type(err).__name__}: {err}"
                )
                self._logger.warning(self._last_error)
                return prepare_output(generations=[None] * num_generations)


def build_llm(
    settings: LLMSettings, api_key: str | None = None, work_dir: Path | None = None
) -> LLM:
    """The distilabel LLM for ``settings.backend``; local models are loaded later, lazily.

    A packaged model (``packaged_models``) with the transformers backend is assembled into
    ``work_dir/llm`` (checked) and loaded from its GGUF file.
    """
    if settings.backend == "openai":
        llm: LLM = BoundedOpenAILLM(
            model=settings.model,
            base_url=settings.base_url,
            # Self-hosted OpenAI-compatible servers usually ignore the key but the client
            # refuses to start without one.
            api_key=api_key or "EMPTY",  # type: ignore[arg-type]
            max_retries=settings.max_retries,
            timeout=settings.timeout_s,
            concurrency=settings.concurrency,
        )
    else:
        _require_package(settings.backend)
        from distilabel.models import TransformersLLM, vLLM

        # Neither constructor touches the weights: they load in the step's process.
        packaged = packaged_model(settings.model)
        if settings.backend == "vllm":
            llm = vLLM(model=settings.model)
        elif packaged is not None:
            gguf = assemble(packaged, (work_dir or Path("data/cache")) / "llm")
            llm = TransformersLLM(
                model=str(gguf.parent),
                tokenizer=str(gguf.parent),
                model_kwargs={"gguf_file": gguf.name, "dtype": "float32"},
                device="cpu",
            )
        else:
            llm = TransformersLLM(model=settings.model)
    llm.generation_kwargs = translate_generation_kwargs(
        settings.generation_kwargs, llm, settings.backend
    )
    return llm


def translate_generation_kwargs(
    kwargs: dict[str, float | int | str], llm: LLM, backend: str
) -> dict[str, Any]:
    """Map config keys onto ``llm``'s generate() arguments, rejecting unknown keys now.

    An unknown key would otherwise only fail inside the step's process, where distilabel
    turns the error into a batch of empty rows: every generation lost, no clear message.
    """
    translated: dict[str, Any] = {}
    for key, value in kwargs.items():
        translated["max_new_tokens" if key in _MAX_TOKENS_ALIASES else key] = value
    accepted = {
        p.name
        for p in llm.generate_parameters
        if p.name not in ("self", "input", "inputs", "num_generations")
        and p.kind is not inspect.Parameter.VAR_KEYWORD
    }
    unknown = sorted(set(translated) - accepted)
    if unknown:
        raise ValueError(
            f"synthetic.llm.generation_kwargs: {', '.join(unknown)} not supported by the"
            f" {backend!r} backend; supported: {', '.join(sorted(accepted))}"
        )
    return translated


def _require_package(backend: str) -> None:
    package = _LOCAL_BACKEND_PACKAGES[backend]
    if importlib.util.find_spec(package) is None:
        raise RuntimeError(
            f"synthetic.llm.backend is {backend!r}, which needs the Python package"
            f" {package!r}, but it is not installed (pip install {package}); or point"
            " backend 'openai' at a server that serves the model."
        )
