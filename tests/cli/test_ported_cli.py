"""`server.py ported-numbers import | export | admin-key`: the operator's overrides from the
command line (the numbers from a file, never on the command line)."""

from __future__ import annotations

import json

from tests.cli.test_cli import run


def test_import_export_and_an_admin_key(tmp_path):
    d = str(tmp_path / "data")
    csv = tmp_path / "ported.csv"
    csv.write_text("number,carrier\n+8613800138000,china_unicom\n18912345678,china_mobile\n", encoding="utf-8")
    out = run("--data-dir", d, "ported-numbers", "import", str(csv))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"added": 2, "updated": 0, "unchanged": 0}
    out = run("--data-dir", d, "ported-numbers", "export")
    assert out.stdout.splitlines() == ["number,carrier", "+8613800138000,china_unicom", "+8618912345678,china_mobile"]

    csv.write_text("+8613700137000,china_unicom\n+8613600136000,martian_mobile\n", encoding="utf-8")
    bad = run("--data-dir", d, "ported-numbers", "import", str(csv))
    assert bad.returncode == 2 and "row 2" in bad.stderr and "nothing imported" in bad.stderr
    assert "13600136000" not in bad.stderr  # the error names the row, not the number

    tenant = json.loads(run("--data-dir", d, "tenant", "create", "Operator").stdout)
    key = run("--data-dir", d, "ported-numbers", "admin-key", tenant["tenant_id"])
    assert key.returncode == 0 and set(json.loads(key.stdout)) == {"key_id", "api_key"}


def test_the_platform_key_is_rewrapped_with_the_master_key(tmp_path):
    d = str(tmp_path / "data")
    csv = tmp_path / "ported.csv"
    csv.write_text("+8613800138000,china_unicom\n", encoding="utf-8")
    assert run("--data-dir", d, "ported-numbers", "import", str(csv)).returncode == 0
    rotated = run("keys", "rotate-master", "--data-dir", d)
    assert rotated.returncode == 0 and "1 platform keys re-wrapped" in rotated.stderr, rotated.stderr
    out = run("--data-dir", d, "ported-numbers", "export")
    assert out.stdout.splitlines() == ["number,carrier", "+8613800138000,china_unicom"], out.stderr
