"""Shared fixtures for the security tests."""
from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from security import EnvMasterKeyProvider, Keyring

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


def shared_dir() -> Path | None:
    """The team's shared reference folder (../shared next to the repository)."""
    env = os.environ.get("HONGYAN_SHARED_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / ".." / "shared"
    return path if path.is_dir() else None


@pytest.fixture
def crypto_vectors() -> Path:
    base = shared_dir()
    folder = base / "reference" / "crypto" if base else None
    if folder is None or not folder.is_dir():
        pytest.skip("shared reference vectors not found (set HONGYAN_SHARED_DIR)")
    return folder


@pytest.fixture
def master() -> EnvMasterKeyProvider:
    return EnvMasterKeyProvider(os.urandom(16).hex())


@pytest.fixture
def keyring(master) -> Keyring:
    ring = Keyring(master)
    ring.create_tenant_keys("tenant-a", now=NOW)
    ring.create_tenant_keys("tenant-b", now=NOW)
    return ring
