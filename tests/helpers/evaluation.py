"""A small corpus as document_chunks and source_documents rows, for the evaluation tests.

Three documents: a guide whose "Artifact store" section spans two chunks and whose
"Orchestrator" chunk starts with the tail of the chunk before it (chunk overlap), an FAQ
page with question headings, and an API page from a git source.
"""

from __future__ import annotations

import pandas as pd

GUIDE, FAQ, API = "docs:guide/stacks.md", "docs:faq.md", "repo:api/client.md"
TAIL = "loaded again by id from any later run of the pipeline"

CHUNKS = [
    ("g0", GUIDE, "Stacks", "Stacks\nA stack is the set of components a pipeline runs on."),
    (
        "g1",
        GUIDE,
        "Stacks > Artifact store",
        "Artifact store\nThe artifact store keeps every artifact that a step produces, in a "
        "bucket or a folder.",
    ),
    (
        "g2",
        GUIDE,
        "Stacks > Artifact store",
        f"Artifact store\nArtifacts are versioned and {TAIL}.",
    ),
    (
        "g3",
        GUIDE,
        "Stacks > Orchestrator",
        f"Orchestrator\n{TAIL}. The orchestrator decides where each step runs.",
    ),
    ("g4", GUIDE, "Stacks > Orchestrator > Kubernetes", "Kubernetes\nEvery step runs as a pod."),
    ("g5", GUIDE, "Stacks > Secrets", "Secrets\nSecrets hold API keys outside of the code."),
    ("f0", FAQ, "FAQ", "FAQ\nAnswers to common questions."),
    (
        "f1",
        FAQ,
        "FAQ > How do I reset my password?",
        "How do I reset my password?\nUse the **reset** link on the login page.",
    ),
    ("f2", FAQ, "FAQ > 2.1 Why is my build slow?", "2.1 Why is my build slow?\nThe cache is cold."),
    ("f3", FAQ, "FAQ > Contact", "Contact\nWrite to the support team."),
    ("a0", API, "Client API > Authentication", "Authentication\nUse an API key with the client."),
]

URIS = {
    GUIDE: "file:///srv/docs/guide/stacks.md",
    FAQ: "file:///srv/docs/faq.md",
    API: "https://github.com/acme/product/blob/abc123/docs/api/client.md",
}


def chunks_frame() -> pd.DataFrame:
    rows = []
    positions: dict[str, int] = {}
    for chunk_id, doc, heading, text in CHUNKS:
        position = positions.get(doc, 0)
        positions[doc] = position + 1
        rows.append(
            {
                "chunk_id": chunk_id,
                "doc_id": doc,
                "doc_ids": [doc],
                "heading_path": heading,
                "text": text,
                "n_tokens": 20,
                "position": position,
            }
        )
    return pd.DataFrame(rows)


def documents_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "doc_id": list(URIS),
            "source": [d.split(":")[0] for d in URIS],
            "uri": list(URIS.values()),
            "deleted": [False] * len(URIS),
        }
    )
