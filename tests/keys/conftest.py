"""Every key test gets a KEK and a forget list of its own, and empty key caches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings

from cuspid.keys.crypto import dek_cache
from cuspid.keys.kek import forget_loaded_kek


@pytest.fixture(autouse=True)
def key_files(settings: Settings, tmp_path: Path) -> Iterator[Path]:
    """The directory holding this test's KEK and forget list."""
    settings.CUSPID_KEK_PATH = tmp_path / "keys" / "kek.json"
    settings.CUSPID_FORGET_LIST = tmp_path / "keys" / "forget-list"
    forget_loaded_kek()
    dek_cache.clear()
    yield tmp_path / "keys"
    forget_loaded_kek()
    dek_cache.clear()
