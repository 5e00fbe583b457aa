"""SM4-GCM field sealing speed beside raw OpenSSL and gmssl, measured in one run.

    python bench/crypto.py --seconds 10

Phases run interleaved in rounds so a noisy neighbour hits all of them alike; each figure is
the median over rounds, and ratios are medians of the per-round ratios. Pinned to one core.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402
from gmssl import sm4 as gmssl_sm4  # noqa: E402

from security import EnvMasterKeyProvider, Keyring  # noqa: E402
from security.reference import sm4_gcm_encrypt  # noqa: E402

SMALL_SIZES = (11, 14, 32, 64)  # a number, an E.164 number, a variable set, a short text
BULK = 1 << 20
GMSSL_BULK = 4 << 10  # gmssl is ~800x slower: a small buffer keeps its phase short


def rate(operation, seconds: float, *, per_call: int = 1) -> float:
    """Calls per second of ``operation`` over about ``seconds`` (times ``per_call``)."""
    operation()  # warm caches outside the timed part
    calls, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        operation()
        calls += 1
        now = time.perf_counter()
        if now >= deadline:
            return calls * per_call / (now - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="total measuring time (about)")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})

    keyring = Keyring(EnvMasterKeyProvider(os.urandom(16).hex()))
    keyring.create_tenant_keys("01JD0TENANT000000000000000", now=datetime.now(UTC))
    tenant = "01JD0TENANT000000000000000"
    fields = [os.urandom(n) for n in SMALL_SIZES]
    rows = [f"01JD0ROW{i:018d}" for i in range(1024)]
    sealed = [keyring.seal(tenant, "recipients", "msisdn", rows[i], fields[i % 4]) for i in range(1024)]
    bulk = os.urandom(BULK)
    sealed_bulk = keyring.seal(tenant, "messages", "content", "bulk", bulk)
    raw_key = os.urandom(16)
    raw_algorithm = algorithms.SM4(raw_key)
    gmssl_buf = os.urandom(GMSSL_BULK)
    gmssl_engine = gmssl_sm4.CryptSM4()
    gmssl_engine.set_key(raw_key, gmssl_sm4.SM4_ENCRYPT)
    counter = iter(range(1 << 62))

    def seal_small():
        for i in range(64):
            keyring.seal(tenant, "recipients", "msisdn", rows[i], fields[i & 3])

    def open_small():
        for i in range(64):
            keyring.open(tenant, "recipients", "msisdn", rows[i], sealed[i])

    def blind_index():
        for i in range(64):
            keyring.blind_index(tenant, f"+86138{i:08d}")

    def seal_bulk():
        keyring.seal(tenant, "messages", "content", "bulk", bulk)

    def open_bulk():
        keyring.open(tenant, "messages", "content", "bulk", sealed_bulk)

    def openssl_bulk():
        # The bare primitive: fresh nonce, no header, no associated data, no copies.
        encryptor = Cipher(raw_algorithm, modes.GCM(next(counter).to_bytes(12, "big"))).encryptor()
        encryptor.update(bulk)
        encryptor.finalize()

    def gmssl_bulk():
        # The same job as the others, SM4-GCM, composed on gmssl's block function.
        sm4_gcm_encrypt(raw_key, next(counter).to_bytes(12, "big"), gmssl_buf, b"")

    def gmssl_ecb():
        gmssl_engine.crypt_ecb(gmssl_buf)

    def gmssl_reference_small():
        sm4_gcm_encrypt(raw_key, os.urandom(12), fields[2], b"x" * 60)

    phases = {
        "seal_per_s": (seal_small, 64, 1.0),
        "open_per_s": (open_small, 64, 1.0),
        "blind_index_per_s": (blind_index, 64, 0.5),
        "seal_mb_s": (seal_bulk, BULK / 1e6, 1.0),
        "open_mb_s": (open_bulk, BULK / 1e6, 1.0),
        "openssl_mb_s": (openssl_bulk, BULK / 1e6, 1.0),
        "gmssl_mb_s": (gmssl_bulk, GMSSL_BULK / 1e6, 0.5),
        "gmssl_ecb_mb_s": (gmssl_ecb, GMSSL_BULK / 1e6, 0.5),
        "gmssl_gcm_field_per_s": (gmssl_reference_small, 1, 0.5),
    }
    weight_sum = sum(w for _, _, w in phases.values())
    results: dict[str, list[float]] = {name: [] for name in phases}
    for _ in range(args.rounds):
        for name, (operation, per_call, weight) in phases.items():
            share = args.seconds * weight / weight_sum / args.rounds
            results[name].append(rate(operation, share, per_call=per_call))

    med = {name: statistics.median(values) for name, values in results.items()}
    bulk_ratio = statistics.median(s / o for s, o in zip(results["seal_mb_s"], results["openssl_mb_s"]))
    gmssl_ratio = statistics.median(s / g for s, g in zip(results["seal_mb_s"], results["gmssl_mb_s"]))
    ecb_ratio = statistics.median(s / g for s, g in zip(results["seal_mb_s"], results["gmssl_ecb_mb_s"]))
    field_ratio = statistics.median(s / g for s, g in zip(results["seal_per_s"], results["gmssl_gcm_field_per_s"]))

    rows_out = [
        ("seal, small field (11-64 B), keyring", f"{med['seal_per_s']:,.0f} /s", f"{1e6 / med['seal_per_s']:.1f} us"),
        ("open, small field, keyring", f"{med['open_per_s']:,.0f} /s", f"{1e6 / med['open_per_s']:.1f} us"),
        ("blind index (HMAC-SM3)", f"{med['blind_index_per_s']:,.0f} /s", f"{1e6 / med['blind_index_per_s']:.1f} us"),
        ("seal, 1 MiB, keyring", f"{med['seal_mb_s']:,.1f} MB/s", ""),
        ("open, 1 MiB, keyring", f"{med['open_mb_s']:,.1f} MB/s", ""),
        ("raw OpenSSL SM4-GCM, 1 MiB", f"{med['openssl_mb_s']:,.1f} MB/s", ""),
        ("SM4-GCM on gmssl's block function", f"{med['gmssl_mb_s']:,.3f} MB/s", ""),
        ("gmssl SM4-ECB (no authentication)", f"{med['gmssl_ecb_mb_s']:,.3f} MB/s", ""),
        ("GCM on gmssl's block, small field", f"{med['gmssl_gcm_field_per_s']:,.0f} /s", ""),
    ]
    print(f"SM4-GCM sealing, {args.rounds} rounds over ~{args.seconds:g} s, one core, medians")
    width = max(len(r[0]) for r in rows_out)
    for label, value, extra in rows_out:
        print(f"  {label:<{width}}  {value:>16}  {extra}")
    print(f"  {'bulk seal / raw OpenSSL':<{width}}  {bulk_ratio:>16.1%}  (target >= 90%)")
    print(f"  {'bulk seal / gmssl SM4-GCM':<{width}}  {gmssl_ratio:>15,.0f}x  (target >= 500x)")
    print(f"  {'bulk seal / gmssl SM4-ECB':<{width}}  {ecb_ratio:>15,.0f}x")
    print(f"  {'small field seal / gmssl GCM':<{width}}  {field_ratio:>15,.0f}x")
    print(
        json.dumps(
            {
                "seal_per_s": round(med["seal_per_s"]),
                "seal_mb_s": round(med["seal_mb_s"], 1),
                "openssl_mb_s": round(med["openssl_mb_s"], 1),
                "gmssl_mb_s": round(med["gmssl_mb_s"], 4),
                "open_per_s": round(med["open_per_s"]),
                "open_mb_s": round(med["open_mb_s"], 1),
                "blind_index_per_s": round(med["blind_index_per_s"]),
                "gmssl_gcm_field_per_s": round(med["gmssl_gcm_field_per_s"]),
                "bulk_vs_openssl": round(bulk_ratio, 3),
                "gmssl_ecb_mb_s": round(med["gmssl_ecb_mb_s"], 4),
                "bulk_vs_gmssl": round(gmssl_ratio),
                "bulk_vs_gmssl_ecb": round(ecb_ratio),
                "field_vs_gmssl_gcm": round(field_ratio, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
