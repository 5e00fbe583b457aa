"""`server.py user create` and the demo tenant's owner, as a newcomer types them (real
subprocesses, a real data dir)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.cli.test_cli import ROOT, _free_port, _wait_healthy, run


def sign_in(base: str, body: dict) -> int:
    req = urllib.request.Request(
        base + "/editor/session", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_user_create_prints_one_json_line(tmp_path):
    d = str(tmp_path / "data")
    tenant = json.loads(run("tenant", "create", "Acme", "--data-dir", d).stdout)
    out = run("user", "create", tenant["tenant_id"], "rita", "--role", "reviewer", "--data-dir", d)
    assert out.returncode == 0, out.stderr
    (line,) = out.stdout.splitlines()
    info = json.loads(line)
    assert line == json.dumps(info, separators=(",", ":"))
    assert set(info) == {"user_id", "tenant_id", "login", "role", "password"} and info["role"] == "reviewer"
    assert len(info["password"]) >= 10
    assert info["password"].encode() not in (tmp_path / "data" / "hongyan.db").read_bytes()

    given = subprocess.run(
        [sys.executable, str(ROOT / "server.py"), "user", "create", tenant["tenant_id"], "otto"]
        + ["--role", "owner", "--password-stdin", "--data-dir", d],
        input="a long passphrase\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert given.returncode == 0, given.stderr
    assert "password" not in json.loads(given.stdout)


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["nosuchtenant", "rita", "--role", "owner"], 2, "TENANT_ID"),
        (["{t}", "Rita!", "--role", "owner"], 1, "/login"),
    ],
)
def test_user_create_refuses(tmp_path, args, code, says):
    d = str(tmp_path / "data")
    tenant = json.loads(run("tenant", "create", "Acme", "--data-dir", d).stdout)
    out = run("user", "create", *[a.format(t=tenant["tenant_id"]) for a in args], "--data-dir", d)
    assert out.returncode == code and says in out.stderr and out.stdout == ""


def test_the_demo_tenant_has_an_owner_who_can_sign_in(tmp_path):
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
        assert sign_in(base, {"login": info["owner_login"], "password": info["owner_password"]}) == 201
        assert sign_in(base, {"login": info["owner_login"], "password": "not the password"}) == 401
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert f"login owner, password {info['owner_password']}" in err  # printed for the newcomer
