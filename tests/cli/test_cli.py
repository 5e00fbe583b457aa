"""The command line as a newcomer types it: real subprocesses, a real data dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import listen_port

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "server.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd or ROOT,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    "argv,keys",
    [
        (["--data-dir", "{d}", "tenant", "create", "Acme"], {"tenant_id", "api_key"}),
        (["tenant", "create", "Acme", "--data-dir", "{d}"], {"tenant_id", "api_key"}),
        (["tenant", "--data-dir", "{d}", "create", "Acme", "--signature", "【阿克米】"], {"tenant_id", "api_key"}),
        (["tenant", "create", "Acme", "--test-key", "--data-dir", "{d}"], {"tenant_id", "api_key", "test_api_key"}),
    ],
)
def test_tenant_create_prints_one_json_line(tmp_path, argv, keys):
    d = str(tmp_path / "data")
    out = run(*[a.format(d=d) for a in argv])
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 1
    info = json.loads(lines[0])
    assert set(info) == keys
    assert info["api_key"].startswith("hy_live_") and info.get("test_api_key", "hy_test_").startswith("hy_test_")
    assert lines[0] == json.dumps(info, separators=(",", ":"))
    assert (tmp_path / "data" / "hongyan.db").exists()
    assert info["api_key"].encode() not in (tmp_path / "data" / "hongyan.db").read_bytes()


def test_env_data_dir_and_bad_signature(tmp_path):
    out = run("tenant", "create", "Acme", "--signature", "鸿雁", env={"HONGYAN_DATA_DIR": str(tmp_path / "e")})
    assert out.returncode == 2 and "--signature" in out.stderr and out.stdout == ""


@pytest.mark.parametrize("name", ["", "   ", "Acme\x01"])
def test_tenant_create_refuses_a_blank_or_control_character_name(tmp_path, name):
    out = run("tenant", "create", name, "--data-dir", str(tmp_path / "n"))
    assert out.returncode == 2 and "NAME" in out.stderr and out.stdout == ""


def test_migrate_initialises_an_empty_data_dir(tmp_path):
    out = run("migrate", "--data-dir", str(tmp_path / "m"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "m" / "hongyan.db").exists()


def _free_port() -> int:
    return listen_port()


def _wait_healthy(url: str, proc: subprocess.Popen, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read())
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.05)  # polling a subprocess's port; there is no event to wait on
    raise AssertionError("server did not become healthy")


def test_serve_creates_demo_tenant_and_accepts_a_send(tmp_path):
    port = _free_port()
    data = tmp_path / "var"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "server.py"), "--port", str(port), "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, proc, time.monotonic() + 30)
        info = json.loads((data / "demo-tenant.json").read_text())
        req = urllib.request.Request(
            base + "/v1/messages",
            data=json.dumps(
                {
                    "to": "+8613800138001",
                    "card": {
                        "message": {
                            "generalPurposeCard": {
                                "layout": {"cardOrientation": "VERTICAL"},
                                "content": {"title": "你好"},
                            }
                        }
                    },
                }
            ).encode(),
            headers={"Authorization": f"Bearer {info['api_key']}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 202
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode in (0, -15), err
    assert info["api_key"] in err  # printed for the newcomer on start
    assert "13800138001" not in err  # numbers never logged
