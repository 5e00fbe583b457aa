"""Envelope keys: per-tenant data keys wrapped by a master key.

The keyring is storage-agnostic and in memory: the caller persists the `DataKeyRecord`s it
returns and feeds them back with `Keyring.load` at start-up or refresh. Unwrapped keys and
their SM4 objects are cached, because the accept path seals several fields per recipient.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import logging
import os
import re
import stat
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from hmac import compare_digest
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from security.sealing import (
    KEY_SIZE,
    NONCE_SIZE,
    TAG_SIZE,
    SealError,
    open_with,
    seal_with,
    sealed_key_id,
    sm4,
)

log = logging.getLogger(__name__)

PURPOSE_DATA = "data"
PURPOSE_INDEX = "index"
ACTIVE = "active"
DECRYPT_ONLY = "decrypt_only"
RETIRED = "retired"
BLIND_INDEX_SIZE = 32
_PURPOSE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
# "/" cannot occur in a blind-index purpose, so checkpoint keys never equal an index key.
_CHECKPOINT_PURPOSE = "evidence/checkpoint"
# Evidence commitments over message content (cards, variables): keyed, so a guessable value
# (a one-time code) cannot be recovered by hashing candidates.
_CONTENT_PURPOSE = "evidence/content"
# A GCM key with random 96-bit nonces should seal at most 2**32 values (NIST SP 800-38D §8.3);
# rotating well before that keeps the nonce-collision probability negligible.
SEALS_BEFORE_ROTATION = 2**30


class UnknownTenant(LookupError):
    """The keyring holds no keys for this tenant."""


@dataclass(frozen=True)
class DataKeyRecord:
    """One wrapped data key, as stored in table ``data_keys``."""

    tenant_id: str
    key_id: int
    purpose: str  # "data" | "index"
    wrapped: bytes
    master_key_id: str
    state: str  # "active" | "decrypt_only" | "retired"
    created_at: datetime


@runtime_checkable
class MasterKeyProvider(Protocol):
    """Wraps and unwraps data keys; env/file by default, a KMS or HSM as a plug-in."""

    current_id: str

    def wrap(self, data_key: bytes, *, context: bytes) -> tuple[str, bytes]:
        """Wrap ``data_key`` under the current master key: (master_key_id, wrapped)."""
        ...

    def unwrap(self, master_key_id: str, wrapped: bytes, *, context: bytes) -> bytes:
        """Unwrap; raises SealError if the key id is unknown or ``wrapped``/``context`` is wrong."""
        ...


class _LocalMasterKeys:
    """Master keys held in process memory; wraps with SM4-GCM, ``context`` as associated data."""

    def __init__(self) -> None:
        self._keys: dict[str, algorithms.SM4] = {}
        self._materials: dict[str, bytes] = {}
        self.current_id = ""

    def _add(self, material: bytes) -> str:
        key_id = master_key_fingerprint(material)
        self._keys[key_id] = sm4(material)
        self._materials[key_id] = material
        return key_id

    @property
    def key_ids(self) -> list[str]:
        """Ids of every master key this provider can unwrap with."""
        return list(self._keys)

    def wrap(self, data_key: bytes, *, context: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(NONCE_SIZE)
        encryptor = Cipher(self._keys[self.current_id], modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(_wrap_ad(self.current_id, context))
        body = encryptor.update(data_key) + encryptor.finalize()
        return self.current_id, nonce + body + encryptor.tag

    def unwrap(self, master_key_id: str, wrapped: bytes, *, context: bytes) -> bytes:
        algorithm = self._keys.get(master_key_id)
        if algorithm is None:
            raise SealError(f"master key {master_key_id!r} is not available")
        if len(wrapped) < NONCE_SIZE + TAG_SIZE:
            raise SealError("wrapped key too short")
        nonce, body, tag = wrapped[:NONCE_SIZE], wrapped[NONCE_SIZE:-TAG_SIZE], wrapped[-TAG_SIZE:]
        decryptor = Cipher(algorithm, modes.GCM(nonce, tag)).decryptor()
        decryptor.authenticate_additional_data(_wrap_ad(master_key_id, context))
        try:
            return decryptor.update(body) + decryptor.finalize()
        except InvalidTag:
            raise SealError(f"wrapped key does not open under master key {master_key_id!r}") from None


def _wrap_ad(master_key_id: str, context: bytes) -> bytes:
    return _lp(b"hongyan/wrap") + _lp(master_key_id.encode()) + _lp(context)


def master_key_fingerprint(material: bytes) -> str:
    """A stable, non-secret name for a master key: ``mk-`` + 12 hex digits of SM3."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(b"hongyan/master-key-id\x00" + material)
    return "mk-" + digest.finalize()[:6].hex()


def parse_key_material(text: str) -> bytes:
    """16 key bytes from 32 hex digits or base64 (standard or URL-safe)."""
    text = text.strip()
    try:
        if len(text) == 2 * KEY_SIZE:
            raw = bytes.fromhex(text)
        else:
            altchars = b"-_" if ("-" in text or "_" in text) else None
            raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"master key material must be {2 * KEY_SIZE} hex digits or base64") from None
    if len(raw) != KEY_SIZE:
        raise ValueError(f"a master key is {KEY_SIZE} bytes, got {len(raw)}")
    return raw


class EnvMasterKeyProvider(_LocalMasterKeys):
    """Master keys given in settings/env: hex or base64, comma-separated, the first is current.

    To rotate the master key, set ``NEW,OLD``, run `Keyring.rewrap_all`, then drop ``OLD``.
    """

    def __init__(self, value: str) -> None:
        super().__init__()
        parts = [p for p in value.split(",") if p.strip()]
        if not parts:
            raise ValueError("no master key given")
        ids = [self._add(parse_key_material(p)) for p in parts]
        self.current_id = ids[0]


class FileMasterKeyProvider(_LocalMasterKeys):
    """Master keys in a JSON file (mode 0600), created with a random key on first use.

    The file holds several keys for master-key rotation: `add_key` makes a new current key
    and keeps the old ones until `remove_key`, after `Keyring.rewrap_all`.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        if not self.path.exists():
            self._create()
        self._read()

    def add_key(self) -> str:
        """Generate a new master key, make it current, save; returns its id."""
        new_id = self._add(os.urandom(KEY_SIZE))
        self.current_id = new_id
        self._save()
        return new_id

    def unwrap(self, master_key_id: str, wrapped: bytes, *, context: bytes) -> bytes:
        if master_key_id not in self._keys:
            # Another process may have added a master key since this one read the file.
            self._read()
        return super().unwrap(master_key_id, wrapped, context=context)

    def remove_key(self, master_key_id: str) -> None:
        """Forget a master key that no record refers to any more (not the current one)."""
        if master_key_id == self.current_id:
            raise ValueError("cannot remove the current master key")
        self._keys.pop(master_key_id, None)
        self._materials.pop(master_key_id, None)
        self._save()

    def _create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        material = os.urandom(KEY_SIZE)
        key_id = master_key_fingerprint(material)
        data = {"version": 1, "current": key_id, "keys": {key_id: material.hex()}}
        tmp = self._write_temp(data)
        try:
            # link() fails if the file exists: two processes starting at once agree on one key.
            os.link(tmp, self.path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        self._sync_dir()

    def _read(self) -> None:
        mode = self.path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("master key file %s is readable by group/others; chmod 600 it", self.path)
        data = json.loads(self.path.read_text())
        if data.get("version") != 1:
            raise ValueError(f"{self.path}: unknown master key file version {data.get('version')!r}")
        for material_hex in data["keys"].values():
            self._add(bytes.fromhex(material_hex))
        if data["current"] not in self._keys:
            raise ValueError(f"{self.path}: current master key {data['current']!r} is not in the file")
        self.current_id = data["current"]

    def _save(self) -> None:
        data = {
            "version": 1,
            "current": self.current_id,
            "keys": {key_id: m.hex() for key_id, m in self._materials.items()},
        }
        tmp = self._write_temp(data)
        os.replace(tmp, self.path)
        self._sync_dir()

    def _sync_dir(self) -> None:
        # Losing the master key loses every sealed value: make the new name durable too.
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _write_temp(self, data: dict) -> str:
        tmp = f"{self.path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        return tmp


class Keyring:
    """Per-tenant data and index keys, unwrapped on first use and cached.

    Key ids are per tenant (1, 2, …) and shared by both purposes. Reads on the hot path take
    no lock; changes (load, create, rotate, retire, rewrap) are serialised.
    """

    def __init__(self, master: MasterKeyProvider) -> None:
        self._master = master
        self._lock = threading.RLock()
        self._records: dict[tuple[str, int], DataKeyRecord] = {}
        self._active: dict[str, int] = {}  # tenant -> active data key id
        self._index: dict[str, int] = {}  # tenant -> index key id
        self._algorithms: dict[tuple[str, int], algorithms.SM4] = {}
        self._index_macs: dict[tuple[str, str], hmac.HMAC] = {}
        self._seal_counts: dict[tuple[str, int], int] = {}

    # -- loading and lifecycle --------------------------------------------------------------

    def load(self, records: Iterable[DataKeyRecord]) -> None:
        """Add or refresh records (e.g. from the database); a retired key drops from the cache."""
        with self._lock:
            tenants = set()
            for record in records:
                _check_record(record)
                slot = (record.tenant_id, record.key_id)
                known = self._records.get(slot)
                self._records[slot] = record
                # A different wrapped value may be different key material (another process
                # won a race to create this key): never keep using what was cached for it.
                if record.state == RETIRED or (known is not None and known.wrapped != record.wrapped):
                    self._algorithms.pop(slot, None)
                    self._drop_index_macs(record.tenant_id, record.key_id)
                tenants.add(record.tenant_id)
            for tenant_id in tenants:
                self._reindex(tenant_id)

    def create_tenant_keys(self, tenant_id: str, *, now: datetime) -> list[DataKeyRecord]:
        """A new active data key and an index key for ``tenant_id``; persist what is returned.

        Persist the records before sealing anything with them; if that fails, call `forget`
        and `load` the tenant's records from the database again.
        """
        with self._lock:
            if self.has_tenant(tenant_id):
                raise ValueError(f"tenant {tenant_id!r} already has keys")
            data = self._new_record(tenant_id, PURPOSE_DATA, now)
            index = self._new_record(tenant_id, PURPOSE_INDEX, now)
            self._reindex(tenant_id)
            return [data, index]

    def has_tenant(self, tenant_id: str) -> bool:
        """Whether the tenant has an active data key here."""
        return tenant_id in self._active

    def records(self, tenant_id: str | None = None) -> list[DataKeyRecord]:
        """Current records, for one tenant or all, ordered by tenant and key id."""
        with self._lock:
            mine = [r for r in self._records.values() if tenant_id is None or r.tenant_id == tenant_id]
        return sorted(mine, key=lambda r: (r.tenant_id, r.key_id))

    def active_key_id(self, tenant_id: str) -> int:
        """The key id new values of this tenant are sealed with."""
        try:
            return self._active[tenant_id]
        except KeyError:
            raise UnknownTenant(tenant_id) from None

    def forget(self, tenant_id: str) -> None:
        """Drop everything held for a tenant (e.g. after failing to persist new records)."""
        with self._lock:
            for slot in [s for s in self._records if s[0] == tenant_id]:
                del self._records[slot]
                self._algorithms.pop(slot, None)
                self._seal_counts.pop(slot, None)
            self._reindex(tenant_id)

    def rotate(self, tenant_id: str, *, now: datetime) -> list[DataKeyRecord]:
        """A new active data key; the old one becomes decrypt_only. Returns [old, new].

        Persist both records before sealing with the new key (see `create_tenant_keys`).
        Other processes pick the change up with `load`; until then they keep sealing with
        the old key, so retire it only after a re-encryption pass that starts once every
        process has reloaded finds no value left under it.
        """
        with self._lock:
            old_id = self.active_key_id(tenant_id)
            old = dataclasses.replace(self._records[(tenant_id, old_id)], state=DECRYPT_ONLY)
            self._records[(tenant_id, old_id)] = old
            new = self._new_record(tenant_id, PURPOSE_DATA, now)
            self._reindex(tenant_id)
            return [old, new]

    def retire(self, tenant_id: str, key_id: int) -> DataKeyRecord:
        """Retire a decrypt-only data key: values still sealed with it fail closed from now on."""
        with self._lock:
            record = self._records.get((tenant_id, key_id))
            if record is None:
                raise UnknownTenant(f"{tenant_id}/{key_id}")
            if record.purpose != PURPOSE_DATA:
                raise ValueError("the index key cannot be retired: blind indexes depend on it")
            if record.state == ACTIVE:
                raise ValueError("rotate before retiring the active key")
            record = dataclasses.replace(record, state=RETIRED)
            self._records[(tenant_id, key_id)] = record
            self._algorithms.pop((tenant_id, key_id), None)
            return record

    def rewrap_all(self, new_master: MasterKeyProvider) -> list[DataKeyRecord]:
        """Re-wrap every key under ``new_master`` (master-key rotation); returns all records.

        The data keys themselves do not change, so nothing sealed needs re-encryption. Persist
        the returned records before dropping the old master key.
        """
        with self._lock:
            updated = {}
            # All or nothing: one key that fails to unwrap leaves everything as it was.
            for slot, record in sorted(self._records.items()):
                context = _wrap_context(record.tenant_id, record.key_id, record.purpose)
                key = self._master.unwrap(record.master_key_id, record.wrapped, context=context)
                master_id, wrapped = new_master.wrap(key, context=context)
                updated[slot] = dataclasses.replace(record, master_key_id=master_id, wrapped=wrapped)
            self._records.update(updated)
            self._master = new_master
            return list(updated.values())

    # -- sealing ------------------------------------------------------------------------------

    def seal(self, tenant_id: str, table: str, column: str, row_id: str, plaintext: bytes) -> bytes:
        """Seal with the tenant's active data key."""
        key_id = self.active_key_id(tenant_id)
        slot = (tenant_id, key_id)
        algorithm = self._algorithms.get(slot) or self._unwrap(slot)
        self._seal_counts[slot] = self._seal_counts.get(slot, 0) + 1
        return seal_with(algorithm, key_id, plaintext, tenant_id=tenant_id, table=table, column=column, row_id=row_id)

    def open(self, tenant_id: str, table: str, column: str, row_id: str, blob: bytes) -> bytes:
        """Open with any non-retired data key of the tenant; anything else is SealError."""
        return open_with(
            lambda key_id: self._data_algorithm(tenant_id, key_id),
            blob,
            tenant_id=tenant_id,
            table=table,
            column=column,
            row_id=row_id,
        )

    def is_current(self, tenant_id: str, blob: bytes) -> bool:
        """Whether ``blob`` is sealed with the tenant's active key (no re-encryption needed)."""
        return sealed_key_id(blob) == self.active_key_id(tenant_id)

    def reseal(self, tenant_id: str, table: str, column: str, row_id: str, blob: bytes) -> bytes:
        """``blob`` re-sealed under the active key, or ``blob`` itself when already current.

        The step of a resumable, idempotent re-encryption job: run it over every sealed value
        in batches and write back the values that changed. A value under an older key is
        opened first, so a retired or unknown key, or a value that does not belong at this
        place, raises SealError; a value already under the active key is not opened.
        """
        if self.is_current(tenant_id, blob):
            return blob
        plaintext = self.open(tenant_id, table, column, row_id, blob)
        return self.seal(tenant_id, table, column, row_id, plaintext)

    def reseal_rows(
        self, tenant_id: str, table: str, column: str, rows: Iterable[tuple[str, bytes | None]]
    ) -> list[tuple[str, bytes]]:
        """One batch of a re-encryption job: (row_id, blob) in, only the changed pairs out.

        NULL values (None) are skipped. Write the returned values back, then continue after the
        batch's last row id; running a batch twice changes nothing the second time.
        """
        changed = []
        for row_id, blob in rows:
            if blob is None:
                continue
            new = self.reseal(tenant_id, table, column, row_id, blob)
            if new is not blob:
                changed.append((row_id, new))
        return changed

    def due_for_rotation(self) -> list[str]:
        """Tenants whose active key sealed SEALS_BEFORE_ROTATION values in this process."""
        return sorted(
            tenant
            for (tenant, key_id), count in self._seal_counts.items()
            if count >= SEALS_BEFORE_ROTATION and self._active.get(tenant) == key_id
        )

    # -- blind index --------------------------------------------------------------------------

    def blind_index(self, tenant_id: str, value: str, *, purpose: str = "recipient") -> bytes:
        """HMAC-SM3 of ``value`` (e.g. an E.164 number) under a key for ``purpose``: 32 bytes.

        The HMAC key is derived with HKDF-SM3 from the tenant's index key, never from a data
        key, so blind indexes stay stable across data-key rotation. Normalise ``value`` first.
        """
        mac = self._index_macs.get((tenant_id, purpose))
        if mac is None:
            if not _PURPOSE.fullmatch(purpose):
                raise ValueError(f"a blind-index purpose is lowercase [a-z0-9_.-], got {purpose!r}")
            mac = self._index_mac(tenant_id, purpose)
        mac = mac.copy()
        mac.update(value.encode("utf-8"))
        return mac.finalize()

    def checkpoint_tag(self, tenant_id: str, seq: int, head: bytes) -> bytes:
        """HMAC-SM3 anchoring an evidence-chain head at ``seq`` (store it beside the chain).

        Someone who can rewrite the evidence table can recompute a whole hash chain, but not
        these tags without the master key; pass stored checkpoints to `verify_chain` as anchors.
        """
        mac = self._index_macs.get((tenant_id, _CHECKPOINT_PURPOSE)) or self._index_mac(tenant_id, _CHECKPOINT_PURPOSE)
        mac = mac.copy()
        mac.update(b"%d\x00" % seq + head)
        return mac.finalize()

    def check_checkpoint(self, tenant_id: str, seq: int, head: bytes, tag: bytes) -> bool:
        """Whether ``tag`` is this tenant's `checkpoint_tag` for ``seq`` and ``head``."""
        return compare_digest(self.checkpoint_tag(tenant_id, seq, head), tag)

    def content_commitment(self, tenant_id: str, content: bytes) -> bytes:
        """HMAC-SM3 of message content for the evidence log: 32 bytes.

        The key is derived (HKDF-SM3) from the tenant's index key, which neither data-key nor
        master-key rotation changes, so a commitment can be recomputed for as long as the
        tenant exists; without the keys, guessing the content (a 6-digit code) is no help.
        """
        mac = self._index_macs.get((tenant_id, _CONTENT_PURPOSE)) or self._index_mac(tenant_id, _CONTENT_PURPOSE)
        mac = mac.copy()
        mac.update(content)
        return mac.finalize()

    # -- platform secrets ---------------------------------------------------------------------

    @property
    def master_key_id(self) -> str:
        """The id of the master key new wraps are made with."""
        return self._master.current_id

    def wrap_secret(self, name: str, secret: bytes) -> tuple[str, bytes]:
        """Wrap a platform secret (e.g. a signing key) under the current master key:
        (master_key_id, wrapped). ``name`` is bound in, so a wrapped secret opens only as itself."""
        return self._master.wrap(secret, context=_secret_context(name))

    def unwrap_secret(self, name: str, master_key_id: str, wrapped: bytes) -> bytes:
        """Open what `wrap_secret` made; SealError if the master key is gone or anything differs."""
        return self._master.unwrap(master_key_id, wrapped, context=_secret_context(name))

    # -- internals ----------------------------------------------------------------------------

    def _index_mac(self, tenant_id: str, purpose: str) -> hmac.HMAC:
        with self._lock:
            key_id = self._index.get(tenant_id)
            if key_id is None:
                raise UnknownTenant(tenant_id)
            index_key = self._unwrap_bytes(self._records[(tenant_id, key_id)])
            derived = HKDF(
                algorithm=hashes.SM3(),
                length=32,
                salt=_lp(b"hongyan/blind-index") + _lp(tenant_id.encode()),
                info=purpose.encode("utf-8"),
            ).derive(index_key)
            mac = hmac.HMAC(derived, hashes.SM3())
            self._index_macs[(tenant_id, purpose)] = mac
            return mac

    def _data_algorithm(self, tenant_id: str, key_id: int) -> algorithms.SM4:
        slot = (tenant_id, key_id)
        algorithm = self._algorithms.get(slot)
        if algorithm is not None:
            return algorithm
        record = self._records.get(slot)
        if record is None or record.purpose != PURPOSE_DATA or record.state == RETIRED:
            raise SealError(f"data key {key_id} of this tenant is unknown or retired")
        return self._unwrap(slot)

    def _unwrap(self, slot: tuple[str, int]) -> algorithms.SM4:
        with self._lock:
            record = self._records[slot]
            if record.state == RETIRED:
                raise SealError(f"data key {record.key_id} is retired")
            algorithm = sm4(self._unwrap_bytes(record))
            self._algorithms[slot] = algorithm
            return algorithm

    def _unwrap_bytes(self, record: DataKeyRecord) -> bytes:
        context = _wrap_context(record.tenant_id, record.key_id, record.purpose)
        return self._master.unwrap(record.master_key_id, record.wrapped, context=context)

    def _new_record(self, tenant_id: str, purpose: str, now: datetime) -> DataKeyRecord:
        key_id = 1 + max((k for t, k in self._records if t == tenant_id), default=0)
        key = os.urandom(KEY_SIZE)
        master_id, wrapped = self._master.wrap(key, context=_wrap_context(tenant_id, key_id, purpose))
        record = DataKeyRecord(
            tenant_id=tenant_id,
            key_id=key_id,
            purpose=purpose,
            wrapped=wrapped,
            master_key_id=master_id,
            state=ACTIVE,
            created_at=now,
        )
        self._records[(tenant_id, key_id)] = record
        if purpose == PURPOSE_DATA:
            self._algorithms[(tenant_id, key_id)] = sm4(key)
        return record

    def _reindex(self, tenant_id: str) -> None:
        mine = [r for (t, _), r in self._records.items() if t == tenant_id]
        # Two processes that rotated at once both left an active key: the newest one writes.
        active = [r.key_id for r in mine if r.purpose == PURPOSE_DATA and r.state == ACTIVE]
        # The index key never changes once made; the oldest live one keeps indexes stable.
        index = [r.key_id for r in mine if r.purpose == PURPOSE_INDEX and r.state != RETIRED]
        if active:
            self._active[tenant_id] = max(active)
        else:
            self._active.pop(tenant_id, None)
        if index:
            if self._index.get(tenant_id) != min(index):
                self._drop_index_macs(tenant_id, None)
            self._index[tenant_id] = min(index)
        else:
            self._index.pop(tenant_id, None)
            self._drop_index_macs(tenant_id, None)

    def _drop_index_macs(self, tenant_id: str, key_id: int | None) -> None:
        if key_id is not None and self._index.get(tenant_id) != key_id:
            return
        for slot in [s for s in self._index_macs if s[0] == tenant_id]:
            del self._index_macs[slot]


def _check_record(record: DataKeyRecord) -> None:
    if record.purpose not in (PURPOSE_DATA, PURPOSE_INDEX):
        raise ValueError(f"unknown key purpose {record.purpose!r}")
    if record.state not in (ACTIVE, DECRYPT_ONLY, RETIRED):
        raise ValueError(f"unknown key state {record.state!r}")


def _wrap_context(tenant_id: str, key_id: int, purpose: str) -> bytes:
    # Binds a wrapped key to its record: swapping wrapped keys between rows or tenants fails.
    return _lp(b"hongyan/data-key") + _lp(tenant_id.encode()) + struct.pack(">I", key_id) + _lp(purpose.encode())


def _secret_context(name: str) -> bytes:
    return _lp(b"hongyan/platform-secret") + _lp(name.encode("utf-8"))


def _lp(raw: bytes) -> bytes:
    return struct.pack(">I", len(raw)) + raw
