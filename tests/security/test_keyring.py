"""Keyring: envelope keys, rotation, retirement, blind indexes, master-key providers."""

from __future__ import annotations

import base64
import dataclasses
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from security import (
    EnvMasterKeyProvider,
    FileMasterKeyProvider,
    Keyring,
    MasterKeyProvider,
    SealError,
    UnknownTenant,
    sealed_key_id,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PLACE = ("recipients", "msisdn", "row-1")
NUMBER = "+8613812341234"


def test_create_tenant_keys_records(master):
    ring = Keyring(master)
    records = ring.create_tenant_keys("t1", now=NOW)
    assert [(r.key_id, r.purpose, r.state) for r in records] == [(1, "data", "active"), (2, "index", "active")]
    assert all(r.tenant_id == "t1" and r.master_key_id == master.current_id and r.created_at == NOW for r in records)
    assert all(len(r.wrapped) == 12 + 16 + 16 for r in records)
    assert ring.has_tenant("t1") and not ring.has_tenant("t2")
    with pytest.raises(ValueError):
        ring.create_tenant_keys("t1", now=NOW)
    assert isinstance(master, MasterKeyProvider)


def test_seal_open_and_persisted_records(keyring, master):
    sealed = keyring.seal("tenant-a", *PLACE, NUMBER.encode())
    assert keyring.open("tenant-a", *PLACE, sealed) == NUMBER.encode()
    # A fresh process: same master key, records read back from the database.
    restarted = Keyring(master)
    restarted.load(keyring.records())
    assert restarted.open("tenant-a", *PLACE, sealed) == NUMBER.encode()
    assert restarted.blind_index("tenant-a", NUMBER) == keyring.blind_index("tenant-a", NUMBER)


def test_tenants_are_isolated(keyring):
    sealed = keyring.seal("tenant-a", *PLACE, b"x")
    with pytest.raises(SealError):
        keyring.open("tenant-b", *PLACE, sealed)
    assert keyring.blind_index("tenant-a", NUMBER) != keyring.blind_index("tenant-b", NUMBER)


def test_unknown_tenant(keyring):
    with pytest.raises(UnknownTenant):
        keyring.seal("nobody", *PLACE, b"x")
    with pytest.raises(UnknownTenant):
        keyring.blind_index("nobody", NUMBER)
    sealed = keyring.seal("tenant-a", *PLACE, b"x")
    with pytest.raises(SealError):
        keyring.open("nobody", *PLACE, sealed)


def test_wrong_master_key_cannot_load(keyring):
    other = Keyring(EnvMasterKeyProvider(os.urandom(16).hex()))
    other.load(keyring.records())
    sealed = keyring.seal("tenant-a", *PLACE, b"x")
    with pytest.raises(SealError):
        other.open("tenant-a", *PLACE, sealed)


def test_swapped_wrapped_keys_fail(keyring, master):
    # A wrapped key copied onto another tenant's record (or key id) must not unwrap.
    a_data, _ = keyring.records("tenant-a")
    b_data, _ = keyring.records("tenant-b")
    forged = dataclasses.replace(b_data, wrapped=a_data.wrapped)
    ring = Keyring(master)
    ring.load([forged, *keyring.records("tenant-b")[1:]])
    sealed = keyring.seal("tenant-a", *PLACE, b"x")
    with pytest.raises(SealError):
        ring.seal("tenant-b", *PLACE, b"x")
    with pytest.raises(SealError):
        ring.open("tenant-b", *PLACE, sealed)


def test_rotate_then_retire(keyring):
    old_value = keyring.seal("tenant-a", *PLACE, b"old")
    old, new = keyring.rotate("tenant-a", now=NOW)
    assert (old.key_id, old.state) == (1, "decrypt_only")
    assert (new.key_id, new.state, new.purpose) == (3, "active", "data")
    new_value = keyring.seal("tenant-a", *PLACE, b"new")
    assert sealed_key_id(new_value) == 3 and sealed_key_id(old_value) == 1
    assert keyring.open("tenant-a", *PLACE, old_value) == b"old"
    # Other tenants are untouched.
    assert keyring.active_key_id("tenant-b") == 1

    retired = keyring.retire("tenant-a", 1)
    assert retired.state == "retired"
    with pytest.raises(SealError):
        keyring.open("tenant-a", *PLACE, old_value)
    assert keyring.open("tenant-a", *PLACE, new_value) == b"new"


def test_retire_rules(keyring):
    with pytest.raises(ValueError):
        keyring.retire("tenant-a", keyring.active_key_id("tenant-a"))
    with pytest.raises(ValueError):
        keyring.retire("tenant-a", 2)  # the index key
    with pytest.raises(UnknownTenant):
        keyring.retire("tenant-a", 99)


def test_retirement_loaded_from_another_process(keyring, master):
    value = keyring.seal("tenant-a", *PLACE, b"v")
    other = Keyring(master)
    other.load(keyring.records())
    assert other.open("tenant-a", *PLACE, value) == b"v"  # now cached there
    keyring.rotate("tenant-a", now=NOW)
    retired = keyring.retire("tenant-a", 1)
    other.load(keyring.records())
    assert retired in other.records("tenant-a")
    assert other.active_key_id("tenant-a") == keyring.active_key_id("tenant-a")
    with pytest.raises(SealError):
        other.open("tenant-a", *PLACE, value)


def test_index_key_is_not_a_data_key(keyring):
    # A value labelled with the index key's id must not open even if forged with it.
    value = bytearray(keyring.seal("tenant-a", *PLACE, b"v"))
    value[2:6] = (2).to_bytes(4, "big")
    with pytest.raises(SealError):
        keyring.open("tenant-a", *PLACE, bytes(value))


def test_reseal_is_idempotent_and_resumable(keyring):
    values = [
        keyring.seal("tenant-a", "recipients", "msisdn", f"r{i}", f"+86138000000{i:02d}".encode()) for i in range(5)
    ]
    assert all(keyring.reseal("tenant-a", "recipients", "msisdn", f"r{i}", v) is v for i, v in enumerate(values))
    keyring.rotate("tenant-a", now=NOW)
    # A job that stops half-way and starts again: the first rows are already current.
    done = [keyring.reseal("tenant-a", "recipients", "msisdn", f"r{i}", v) for i, v in enumerate(values[:2])]
    resumed = [keyring.reseal("tenant-a", "recipients", "msisdn", f"r{i}", v) for i, v in enumerate(done + values[2:])]
    assert resumed[:2] == done
    assert all(sealed_key_id(v) == 3 for v in resumed)
    assert [keyring.open("tenant-a", "recipients", "msisdn", f"r{i}", v) for i, v in enumerate(resumed)] == [
        f"+86138000000{i:02d}".encode() for i in range(5)
    ]
    keyring.retire("tenant-a", 1)
    with pytest.raises(SealError):
        keyring.reseal("tenant-a", "recipients", "msisdn", "r2", values[2])
    with pytest.raises(SealError):  # a value moved to another row is refused, not re-sealed
        keyring.reseal("tenant-a", "recipients", "msisdn", "r1", values[0])


def test_blind_index_properties(keyring):
    first = keyring.blind_index("tenant-a", NUMBER)
    assert len(first) == 32
    assert first == keyring.blind_index("tenant-a", NUMBER)
    assert first != keyring.blind_index("tenant-a", "+8613812341235")
    assert first != keyring.blind_index("tenant-a", NUMBER, purpose="idempotency")
    keyring.rotate("tenant-a", now=NOW)
    keyring.retire("tenant-a", 1)
    assert keyring.blind_index("tenant-a", NUMBER) == first


def test_concurrent_first_use(master):
    ring = Keyring(master)
    records = ring.create_tenant_keys("t", now=NOW)
    fresh = Keyring(master)
    fresh.load(records)
    with ThreadPoolExecutor(8) as pool:
        sealed = list(pool.map(lambda i: fresh.seal("t", "x", "y", str(i), b"v"), range(64)))
        indexes = set(pool.map(lambda i: fresh.blind_index("t", NUMBER), range(64)))
    assert len(indexes) == 1
    assert all(ring.open("t", "x", "y", str(i), v) == b"v" for i, v in enumerate(sealed))


def test_rewrap_all_under_new_master(keyring):
    value = keyring.seal("tenant-a", *PLACE, b"v")
    index = keyring.blind_index("tenant-a", NUMBER)
    new_master = EnvMasterKeyProvider(os.urandom(16).hex())
    records = keyring.rewrap_all(new_master)
    assert len(records) == 4 and all(r.master_key_id == new_master.current_id for r in records)
    fresh = Keyring(new_master)
    fresh.load(records)
    assert fresh.open("tenant-a", *PLACE, value) == b"v"
    assert fresh.blind_index("tenant-a", NUMBER) == index
    assert keyring.seal("tenant-a", *PLACE, b"w")  # still works after the switch


def test_env_provider_formats():
    raw = os.urandom(16)
    ids = {
        EnvMasterKeyProvider(raw.hex()).current_id,
        EnvMasterKeyProvider(raw.hex().upper()).current_id,
        EnvMasterKeyProvider(base64.b64encode(raw).decode()).current_id,
        EnvMasterKeyProvider(base64.urlsafe_b64encode(raw).decode().rstrip("=")).current_id,
    }
    assert len(ids) == 1
    assert ids.pop().startswith("mk-")
    for bad in ["", "zz", os.urandom(15).hex(), base64.b64encode(os.urandom(20)).decode()]:
        with pytest.raises(ValueError):
            EnvMasterKeyProvider(bad)


def test_env_provider_rotation_list():
    old, new = os.urandom(16).hex(), os.urandom(16).hex()
    ring = Keyring(EnvMasterKeyProvider(old))
    ring.create_tenant_keys("t", now=NOW)
    value = ring.seal("t", *PLACE, b"v")
    both = EnvMasterKeyProvider(f"{new},{old}")
    records = ring.rewrap_all(both)
    only_new = Keyring(EnvMasterKeyProvider(new))
    only_new.load(records)
    assert only_new.open("t", *PLACE, value) == b"v"


def test_file_provider(tmp_path):
    path = tmp_path / "keys" / "master.json"
    provider = FileMasterKeyProvider(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = FileMasterKeyProvider(path)
    assert again.current_id == provider.current_id

    ring = Keyring(provider)
    ring.create_tenant_keys("t", now=NOW)
    value = ring.seal("t", *PLACE, b"v")
    old_id = provider.current_id
    new_id = provider.add_key()
    assert new_id != old_id and provider.current_id == new_id
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    records = ring.rewrap_all(provider)
    assert {r.master_key_id for r in records} == {new_id}
    provider.remove_key(old_id)
    with pytest.raises(ValueError):
        provider.remove_key(new_id)

    # Another process whose provider was opened before add_key picks the new key up.
    fresh = Keyring(again)
    fresh.load(records)
    assert fresh.open("t", *PLACE, value) == b"v"
    assert FileMasterKeyProvider(path).key_ids == [new_id]


def test_file_provider_racing_creators(tmp_path):
    path = tmp_path / "master.json"
    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda _: FileMasterKeyProvider(path).current_id, range(16)))
    assert len(ids) == 1
    assert not [p for p in tmp_path.iterdir() if p.name != "master.json"]


def test_forget_and_reload_after_failed_persist(keyring, master):
    # Process A made keys for a tenant but process B's records won in the database.
    stored = Keyring(master).create_tenant_keys("t-race", now=NOW)
    keyring.create_tenant_keys("t-race", now=NOW)
    keyring.seal("t-race", *PLACE, b"warm the cache")
    keyring.blind_index("t-race", NUMBER)
    keyring.forget("t-race")
    assert not keyring.has_tenant("t-race")
    keyring.load(stored)
    winner = Keyring(master)
    winner.load(stored)
    assert winner.open("t-race", *PLACE, keyring.seal("t-race", *PLACE, b"v")) == b"v"
    assert keyring.blind_index("t-race", NUMBER) == winner.blind_index("t-race", NUMBER)


def test_load_with_different_key_material_drops_the_cache(keyring, master):
    keyring.create_tenant_keys("t-race", now=NOW)
    keyring.seal("t-race", *PLACE, b"warm the cache")
    keyring.blind_index("t-race", NUMBER)
    stored = Keyring(master).create_tenant_keys("t-race", now=NOW)
    keyring.load(stored)  # without forget(): the wrapped values differ, so the cache goes
    winner = Keyring(master)
    winner.load(stored)
    assert winner.open("t-race", *PLACE, keyring.seal("t-race", *PLACE, b"v")) == b"v"
    assert keyring.blind_index("t-race", NUMBER) == winner.blind_index("t-race", NUMBER)


def test_due_for_rotation(keyring, monkeypatch):
    import security.keyring as keyring_module

    monkeypatch.setattr(keyring_module, "SEALS_BEFORE_ROTATION", 3)
    for _ in range(3):
        keyring.seal("tenant-a", *PLACE, b"v")
    keyring.seal("tenant-b", *PLACE, b"v")
    assert keyring.due_for_rotation() == ["tenant-a"]
    keyring.rotate("tenant-a", now=NOW)
    assert keyring.due_for_rotation() == []


def test_reseal_rows_batch(keyring):
    rows = [(f"r{i}", keyring.seal("tenant-a", "messages", "variables", f"r{i}", b"{}")) for i in range(4)]
    rows.append(("r-null", None))
    assert keyring.reseal_rows("tenant-a", "messages", "variables", rows) == []
    keyring.rotate("tenant-a", now=NOW)
    changed = keyring.reseal_rows("tenant-a", "messages", "variables", rows)
    assert [row_id for row_id, _ in changed] == ["r0", "r1", "r2", "r3"]
    assert keyring.reseal_rows("tenant-a", "messages", "variables", changed) == []
    assert all(keyring.open("tenant-a", "messages", "variables", r, v) == b"{}" for r, v in changed)


@pytest.mark.parametrize("purpose", ["", "Recipient", "evidence/checkpoint", "a b", "x" * 65])
def test_blind_index_purpose_is_validated(keyring, purpose):
    with pytest.raises(ValueError):
        keyring.blind_index("tenant-a", NUMBER, purpose=purpose)


def test_rewrap_all_is_all_or_nothing(keyring, master):
    stranger = Keyring(EnvMasterKeyProvider(os.urandom(16).hex()))
    stranger.create_tenant_keys("tenant-z", now=NOW)
    keyring.load(stranger.records())  # wrapped under a master key this keyring lacks
    before = keyring.records()
    with pytest.raises(SealError):
        keyring.rewrap_all(EnvMasterKeyProvider(os.urandom(16).hex()))
    assert keyring.records() == before
    assert keyring.open("tenant-a", *PLACE, keyring.seal("tenant-a", *PLACE, b"v")) == b"v"
