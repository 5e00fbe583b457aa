"""`server.py billing admin-key`: the operator's key, made only on the command line."""

from __future__ import annotations

import json

from tests.cli.test_cli import run


def test_admin_key_is_made_for_an_existing_tenant_only(tmp_path):
    d = str(tmp_path / "data")
    made = run("--data-dir", d, "tenant", "create", "Operator")
    assert made.returncode == 0, made.stderr
    tenant = json.loads(made.stdout)
    out = run("--data-dir", d, "billing", "admin-key", tenant["tenant_id"])
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 1 and set(json.loads(lines[0])) == {"key_id", "api_key"}
    missing = run("--data-dir", d, "billing", "admin-key", "no-such-tenant")
    assert missing.returncode == 2 and "no tenant" in missing.stderr
