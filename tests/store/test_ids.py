"""Time-ordered ids: UUIDv7 layout, ordered as made, unique, and never repeated across a fork."""

from __future__ import annotations

import os
import uuid

from store.ids import new_id


def test_ids_are_uuidv7_in_the_order_made():
    ids = [new_id() for _ in range(20_000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122


def test_ids_in_one_millisecond_keep_their_order_past_the_counter():
    ids = [new_id(now_ms=1_700_000_000_000) for _ in range(5_000)]  # > 4,096 (12-bit counter)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_a_forked_child_draws_its_own_random_bits():
    new_id()  # the parent's pool is filled
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id's random part and leave at once
        os.write(write, new_id(now_ms=1).encode()[-16:])
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 16).decode()
    os.close(read)
    os.close(write)
    assert child != new_id(now_ms=1)[-16:]
