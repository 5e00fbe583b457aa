"""Shared fixtures for the security tests."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from security import EnvMasterKeyProvider, Keyring

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
KNOWN_ANSWERS = Path(__file__).resolve().parent / "vectors" / "sm_known_answers.json"


@pytest.fixture(scope="session")
def crypto_vectors() -> dict[str, list[dict]]:
    """The published SM3/SM4 known-answer vectors kept in the repository, by group
    ("sm3", "sm4_block", "sm4_modes", "sm4_aead"); each vector names its standard in "source"."""
    data = json.loads(KNOWN_ANSWERS.read_text(encoding="utf-8"))
    return {group: vectors for group, vectors in data.items() if isinstance(vectors, list)}


@pytest.fixture
def master() -> EnvMasterKeyProvider:
    return EnvMasterKeyProvider(os.urandom(16).hex())


@pytest.fixture
def keyring(master) -> Keyring:
    ring = Keyring(master)
    ring.create_tenant_keys("tenant-a", now=NOW)
    ring.create_tenant_keys("tenant-b", now=NOW)
    return ring
