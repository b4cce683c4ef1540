"""Fixtures of the local Argilla stack's own tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def argilla_client(argilla_stack):
    import argilla as rg

    return rg.Argilla(api_url=argilla_stack.api_url, api_key=argilla_stack.api_key)
