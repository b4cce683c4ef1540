"""A small documentation corpus of every supported format, two files of it bad on purpose."""

from __future__ import annotations

import json
from pathlib import Path

GUIDE_MD = """---
title: Stacks guide
---
# Stacks

A stack is the set of components a pipeline runs on.

## Artifact store

The artifact store keeps every artifact that a step produces.

```python
store = Client().active_stack.artifact_store
print(store.path)
```

## Orchestrator

The orchestrator decides where each step runs.
"""

API_RST = """Client API
==========

The client talks to the server.

Authentication
--------------

Use an API key::

    client = Client(api_key="...")
"""

PAGE_HTML = """<html><head><title>Deploying</title></head><body>
<nav class="navbar">Home | Docs | Blog</nav>
<main><h1>Deploying</h1><p>Deploy the server with the helm chart.</p>
<pre>helm install zenml ./chart</pre></main>
<footer>Copyright footer text</footer></body></html>"""

NOTEBOOK = {
    "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Quickstart\n", "Run a pipeline."]},
        {
            "cell_type": "code",
            "metadata": {},
            "source": ["print('hello')"],
            "outputs": [],
            "execution_count": None,
        },
    ],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 5,
}

# Identical footer on two pages: the chunker must collapse it into one chunk.
BOILERPLATE = "## Support\n\nAsk questions in the community forum or open a ticket with support."


def write_corpus(root: Path) -> Path:
    (root / "guide").mkdir(parents=True)
    (root / "guide" / "stacks.md").write_text(GUIDE_MD + "\n" + BOILERPLATE + "\n")
    (root / "guide" / "faq.md").write_text(
        "# FAQ\n\nHow do I reset my password? Use the reset link.\n\n" + BOILERPLATE + "\n"
    )
    (root / "api.rst").write_text(API_RST)
    (root / "deploy.html").write_text(PAGE_HTML)
    (root / "quickstart.ipynb").write_text(json.dumps(NOTEBOOK))
    (root / "notes.txt").write_text("Release notes\n\nVersion 1.0 adds stacks.\n")
    (root / "logo.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    (root / "empty.md").write_text("")
    return root
