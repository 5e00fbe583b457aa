"""The architecture holds at run time too: domain code loads without the web stack, and the
package graph is what docs/architecture.md says (the import-linter contracts, run in CI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Everything that decides what happens to a message, and the libraries under it.
DOMAIN = [
    "messages.status", "messages.lifecycle", "messages.ledger", "messages.request", "messages.evidence",
    "dispatch", "dispatch.dispatcher", "dispatch.rcs", "dispatch.sms", "dispatch.inbound",
    "cards", "cards.validate", "cards.compose", "cards.store.service", "cards.media.service",
    "accounts.service", "accounts.rotation", "accounts.directory", "accounts.channels",
    "security", "store", "webhooks.outbox", "api.problems",
    "rcs.maap", "rcs.results", "fallback.route", "fallback.compose", "fallback.segmentation",
]  # fmt: skip


def test_domain_code_does_not_load_aiohttp():
    script = (
        "import importlib, sys\n"
        f"for name in {DOMAIN!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'aiohttp' or m.startswith('aiohttp.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_import_contracts_hold():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    out = subprocess.run(
        [lint_imports, "--no-cache", "--no-logo"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout
