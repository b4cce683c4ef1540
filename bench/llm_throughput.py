"""How fast the packaged LLM writes questions here: in-process transformers vs llama.cpp.

Both run the product's own path (``generate_pairs`` with ``synthetic.generator: llm``) on
the same real chunks, one after the other (never side by side: two processes on two cores
thrash), with a fresh cache each, so every chunk is asked:

- ``transformers``: distilabel's ``TransformersLLM`` on the GGUF file in this process
  (de-quantized to float32 at load);
- ``llama.cpp``: the local server (``services/llm``, ``make llm-up``) through the OpenAI
  backend, quantized kernels.

Prints chunks/s, CPU-minutes per 1,000 chunks and questions kept per chunk, for one and
for three questions per chunk, and the speed ratio. ``--sizes`` instead runs every packaged
model on the server, one question per chunk, one after the other: what a larger model costs.

    python -m bench.llm_throughput --chunks 24
    python -m bench.llm_throughput --chunks 16 --sizes   # needs every model's parts installed
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from embedloop.config import LLMSettings, SyntheticSettings
from embedloop.pairs.generation import ChunkForGeneration, generate_pairs
from embedloop.pairs.packaged_models import PACKAGED_MODELS, assemble
from services.llm.server import ServerConfig, running_pid, start, stop

MODEL = "qwen2.5-coder-0.5b-instruct-q4_k_m"
REFERENCE = Path("/usr/share/debian-reference")  # Debian package debian-reference-en


def real_chunks(n: int) -> list[ChunkForGeneration]:
    """Paragraphs of the Debian Reference, 300-1,500 characters, in file order."""
    import html
    import re

    out: list[ChunkForGeneration] = []
    for page in sorted(REFERENCE.glob("ch*.en.html")):
        for raw in re.findall(r"<p>(.*?)</p>", page.read_text(errors="replace"), re.S):
            para = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", raw))).strip()
            if 300 <= len(para) <= 1500:
                out.append(ChunkForGeneration(f"c{len(out)}", para, page.stem, "Debian Reference"))
            if len(out) == n:
                return out
    return out


def cpu_s(server_pid: int | None = None) -> float:
    """CPU seconds of this process, its children and the server (not a child: own session)."""
    usage = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    total = sum(u.ru_utime + u.ru_stime for u in usage)
    if server_pid is not None:
        fields = Path(f"/proc/{server_pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def measure(
    name: str,
    llm: LLMSettings,
    chunks: list[ChunkForGeneration],
    n: int,
    gguf: Path,
    server_pid: int | None = None,
) -> dict[str, object]:
    """One runtime, ``n`` questions per chunk, a fresh cache (the model file linked in)."""
    settings = SyntheticSettings(generator="llm", queries_per_chunk=n, llm=llm)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "llm").mkdir()
        (work / "llm" / gguf.name).symlink_to(gguf.resolve())
        (work / "llm" / f"{llm.model}.sha256").write_text(PACKAGED_MODELS[llm.model].sha256 + "\n")
        started, cpu = time.perf_counter(), cpu_s(server_pid)
        report = generate_pairs(chunks, settings, work)
        wall, cpu = time.perf_counter() - started, cpu_s(server_pid) - cpu
    llm_pairs = [p for p in report.pairs if p.generator == "llm"]
    return {
        "runtime": name,
        "questions/chunk asked": n,
        "chunks/s": len(chunks) / wall,
        "CPU-min per 1,000 chunks": cpu / 60 / len(chunks) * 1000,
        "questions kept/chunk": len(llm_pairs) / len(chunks),
        "sample": llm_pairs[0].query if llm_pairs else "",
    }


def server_rows(
    model: str,
    gguf: Path,
    chunks: list[ChunkForGeneration],
    ns: tuple[int, ...],
    args: argparse.Namespace,
) -> list[dict[str, object]]:
    """``model`` on a llama.cpp server of its own, for each number of questions in ``ns``."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        config = ServerConfig(
            data_dir=Path(tmp),
            model_path=gguf.resolve(),
            model_alias=model,
            port=8019,
            threads=args.threads,
            venv=args.venv.resolve(),
        )
        start(config)
        try:
            server = LLMSettings(
                backend="openai",
                base_url=config.base_url,
                model=model,
                generation_kwargs={"max_new_tokens": 96, "temperature": 0.0},
                concurrency=1,
            )
            for n in ns:
                rows.append(
                    measure(f"llama.cpp {model}", server, chunks, n, gguf, running_pid(config))
                )
        finally:
            stop(config)
    return rows


def compare_sizes(chunks: list[ChunkForGeneration], args: argparse.Namespace) -> None:
    """Every packaged model on the server, one question per chunk, and its speed vs the first."""
    rows = []
    for model in PACKAGED_MODELS:
        rows += server_rows(
            model, assemble(PACKAGED_MODELS[model], Path(args.models)), chunks, (1,), args
        )
    first = float(str(rows[0]["chunks/s"]))
    for r in rows:
        speed = float(str(r["chunks/s"]))
        print(f"{r['runtime']:<50} {speed:.3f} chunks/s ({speed / first:.2f}x)"
              f"  {r['CPU-min per 1,000 chunks']:.1f} CPU-min/1k chunks"
              f"  {r['questions kept/chunk']:.2f} kept/chunk  e.g. {r['sample']!r}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=24)
    parser.add_argument("--models", default="data/cache/llm", help="where the GGUF is assembled")
    parser.add_argument("--venv", type=Path, default=Path("services/llm/.venv"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", action="store_true", help="every packaged model, server only")
    args = parser.parse_args()
    chunks = real_chunks(args.chunks)
    if args.sizes:
        return compare_sizes(chunks, args)
    gguf = assemble(PACKAGED_MODELS[MODEL], Path(args.models))
    rows: list[dict[str, object]] = []
    in_process = LLMSettings(
        backend="transformers", model=MODEL, generation_kwargs={"max_new_tokens": 96}
    )
    for n in (1, 3):
        rows.append(measure("transformers (in process)", in_process, chunks, n, gguf))
    rows += server_rows(MODEL, gguf, chunks, (1, 3), args)
    print(f"{len(chunks)} Debian Reference chunks, {MODEL}, {args.threads} threads")
    for r in rows:
        print(
            f"{r['runtime']:<45} n={r['questions/chunk asked']}  {r['chunks/s']:.3f} chunks/s"
            f"  {r['CPU-min per 1,000 chunks']:.1f} CPU-min/1k chunks"
            f"  {r['questions kept/chunk']:.2f} kept/chunk  e.g. {r['sample']!r}"
        )
    for n in (1, 3):
        a, b = (float(str(r["chunks/s"])) for r in rows if r["questions/chunk asked"] == n)
        print(f"n={n}: llama.cpp server is {b / a:.2f}x transformers")


if __name__ == "__main__":
    main()
