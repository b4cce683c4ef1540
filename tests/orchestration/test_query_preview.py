"""``embedloop preview-queries`` and offline generation without distilabel's worker pool."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orchestration.cli import main
from tests.helpers.config import write_config

ROOT = Path(__file__).resolve().parents[2]

FAQ = """# Widget FAQ

## 1.2. How do I reset my widget?

Hold the power button for ten seconds until the light blinks
twice. The widget then restarts with factory settings, and your
saved profiles are erased.

## 1.3. `class WidgetClient`

WidgetClient is a thin wrapper around the REST API of the widget cloud. Create one per
process and reuse it for every request your program makes.

```python
client = WidgetClient(token="...")
client.sync_profiles()
```

## Troubleshooting

If there is a problem, check the cable first. This module is a helper for the cloud.
None is the default for every optional argument.
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "embedloop.yaml", tmp_path, tmp_path / "data")


@pytest.mark.slow
def test_preview_prints_kept_and_dropped_pairs_with_reasons(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "faq.md"
    doc.write_text(FAQ)

    assert main(["--config", str(config), "preview-queries", str(doc), "--n", "50"]) == 0

    out = capsys.readouterr().out
    assert out.startswith(f"{doc}: ")
    # The FAQ question is the chunk's own first line: a copy, dropped, and said why.
    assert "DROPPED question      How do I reset my widget?  <- copy_verbatim" in out
    assert "kept    heading       Widget FAQ WidgetClient" in out
    # Section numbers and "class" prefixes are gone, junk terms got no template.
    queries = [line for line in out.splitlines() if line.startswith(("  kept", "  DROPPED"))]
    assert len(queries) >= 5
    for line in queries:
        assert not any(ch.isdigit() for ch in line) and "class" not in line, line
        for junk in ("If there", "This module", "None"):
            assert junk not in line, line
    assert "strategy  generated  kept" in out  # the per-strategy table


@pytest.mark.slow
def test_preview_shows_at_most_n_pairs(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "faq.md"
    doc.write_text(FAQ)
    assert main(["--config", str(config), "preview-queries", str(doc), "--n", "2"]) == 0
    out = capsys.readouterr().out
    pair_lines = [line for line in out.splitlines() if line.startswith(("  kept", "  DROPPED"))]
    assert len(pair_lines) == 2
    assert "(showing 2 of " in out


def test_preview_errors_are_clear(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "preview-queries", str(tmp_path / "nope.md")]) == 2
    assert "nope.md: no such file" in capsys.readouterr().err
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG")
    assert main(["--config", str(config), "preview-queries", str(binary)]) == 2
    assert "unsupported file type" in capsys.readouterr().err
    empty = tmp_path / "empty.md"
    empty.write_text("   \n")
    assert main(["--config", str(config), "preview-queries", str(empty)]) == 2
    assert "empty document" in capsys.readouterr().err
    doc = tmp_path / "faq.md"
    doc.write_text(FAQ)
    assert main(["--config", str(config), "preview-queries", str(doc), "--n", "0"]) == 2
    assert "--n must be at least 1" in capsys.readouterr().err


def test_offline_generation_never_loads_distilabel_or_starts_workers(tmp_path: Path) -> None:
    # A fresh interpreter: this test process may have imported distilabel for other tests.
    script = textwrap.dedent(
        f"""
        import multiprocessing, sys
        from pathlib import Path
        from embedloop.config import SyntheticSettings
        from embedloop.pairs.generation import ChunkForGeneration, generate_pairs
        import embedloop.pairs.synthetic, embedloop.pairs.preview, embedloop.pairs.credentials

        chunks = [
            ChunkForGeneration(f"c{{i}}", f"Topic {{i}}\\n\\nReturns the widget number {{i}}.",
                               f"Guide > Topic {{i}}", "Guide")
            for i in range(200)
        ]
        report = generate_pairs(chunks, SyntheticSettings(), Path({str(tmp_path)!r}))
        assert report.pairs, "no pairs"
        loaded = sorted(m for m in sys.modules if m.split(".")[0] == "distilabel")
        assert not loaded, loaded
        assert multiprocessing.get_start_method(allow_none=True) != "forkserver"
        assert not multiprocessing.active_children()
        print("ok", len(report.pairs))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ")
    assert not (tmp_path / "distilabel").exists()
