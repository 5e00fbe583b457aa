"""Nothing a recipient gave us is readable in the raw SQLite files, and data survives restarts."""

from __future__ import annotations

from pathlib import Path

from server import ACCOUNTS, Settings, create_app
from tests.conftest import card

NUMBERS = ["+8613912345678", "+8613712340000", "+8618698765432"]
SECRETS = ["张三丰", "88.88", "order-VIP-7731"]


def raw_bytes(data_dir: Path) -> bytes:
    out = b""
    for p in sorted(data_dir.glob("hongyan.db*")):
        out += p.read_bytes()
    return out


async def test_raw_sqlite_files_hold_no_numbers_or_variables(aiohttp_client, tmp_path):
    settings = Settings(data_dir=tmp_path / "var", demo_tenant=False)
    client = await aiohttp_client(create_app(settings))
    _, key = await client.app[ACCOUNTS].create_tenant("Brand")
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "campaign-1"}
    body = {
        "recipients": [{"to": n, "variables": {"name": SECRETS[0], "amount": SECRETS[1]}} for n in NUMBERS],
        "card": card(title="{{ name }} 您好", description="本月话费 {{ amount }} 元"),
        "client_ref": SECRETS[2],
    }
    resp = await client.post("/v1/messages", json=body, headers=headers)
    assert resp.status == 202
    await client.close()  # stop the app: writer drained, engines disposed

    raw = raw_bytes(settings.data_dir)
    assert len(raw) > 10_000
    for n in NUMBERS:
        for form in (n, n[3:], n.lstrip("+")):
            assert form.encode() not in raw, form
            assert form.encode("utf-16-le") not in raw
    for s in SECRETS:
        assert s.encode() not in raw, s


async def test_data_survives_restart(aiohttp_client, settings):
    app = create_app(settings)
    client = await aiohttp_client(app)
    _, key = await client.app[ACCOUNTS].create_tenant("Brand")
    auth = {"Authorization": f"Bearer {key}"}
    resp = await client.post("/v1/messages", json={"to": "+8613912345678", "card": card()}, headers=auth)
    [msg] = (await resp.json())["messages"]
    await client.close()

    client2 = await aiohttp_client(create_app(settings))
    got = await client2.get(f"/v1/messages/{msg['id']}", headers=auth)
    assert got.status == 200
    view = await got.json()
    assert view["to"] == "+8613912345678" and view["status"] == "accepted"
