"""A ZenML materializer that stores a SentenceTransformer as its saved model directory.

``model.save()`` only writes to a local path, so the model is saved into a local temp dir
and copied file by file through ``zenml.io.fileio``, which dispatches on the URI scheme:
the same code writes to a local folder, S3, GCS or Azure artifact store.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, ClassVar

from sentence_transformers import SentenceTransformer
from zenml.enums import ArtifactType
from zenml.io import fileio
from zenml.materializers.base_materializer import BaseMaterializer
from zenml.metadata.metadata_types import MetadataType

MODEL_DIR = "sentence_transformer"


def copy_tree(src: str, dst: str) -> None:
    """Copy a directory tree between any two filesystems that fileio knows."""
    fileio.makedirs(dst)
    for name in fileio.listdir(src):
        name = str(name)
        source, target = os.path.join(src, name), os.path.join(dst, name)
        if fileio.isdir(source):
            copy_tree(source, target)
        else:
            fileio.copy(source, target, overwrite=True)


class SentenceTransformerMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (SentenceTransformer,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.MODEL

    def save(self, data: SentenceTransformer) -> None:
        with tempfile.TemporaryDirectory(prefix="st-save-") as tmp:
            # No model card: it embeds training-run details that belong in ZenML metadata,
            # and generating it touches the (offline) hub for some models.
            data.save(tmp, create_model_card=False)
            copy_tree(tmp, os.path.join(self.uri, MODEL_DIR))

    def load(self, data_type: type[Any]) -> SentenceTransformer:
        with tempfile.TemporaryDirectory(prefix="st-load-") as tmp:
            copy_tree(os.path.join(self.uri, MODEL_DIR), tmp)
            # Weights are read into memory here, so the temp copy can go right after.
            return SentenceTransformer(tmp, local_files_only=True)

    def extract_metadata(self, data: SentenceTransformer) -> dict[str, MetadataType]:
        return {
            "embedding_dim": int(data.get_embedding_dimension() or 0),
            "max_seq_length": int(data.max_seq_length or 0),
            "similarity": str(data.similarity_fn_name),
            "parameters": int(sum(p.numel() for p in data.parameters())),
        }
