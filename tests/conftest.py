"""Shared fixtures. Benchmark data is read from the shared folder beside the checkout (never copied here)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ.get("KATEVAL_DATA_DIR", REPO.parent / "shared" / "data"))
    if not path.is_dir():
        pytest.skip(f"benchmark data folder {path} not found (set KATEVAL_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def tiny_kat() -> Path:
    """The embedded tiny model (kateval.tinymodel), built once into the checkout's cache."""
    from kateval.tinymodel import DEFAULT_DIR, ensure_tiny_model

    return ensure_tiny_model(REPO / DEFAULT_DIR)
