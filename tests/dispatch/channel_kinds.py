"""The RCS channel kinds as adapters of one test table: each puts a tenant's own channel of its
kind on its simulator (real sockets) and says which numbers that simulator took.

`tests/dispatch/test_channel_kinds.py` runs the same rows over every kind; the kinds' own test
files use the same set-ups for what only their interface has."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import orjson
from PIL import Image

from rcs.cm_simulator import CmNetApiSimulator
from rcs.rbm_simulator import RbmSimulator
from rcs.simulator import SimulatorTiming

CM_CHATBOT = "sip:12520020000120@botplatform.rcs.chinamobile.com"
CM_APP_ID, CM_TOKEN, CM_CALLBACK_TOKEN = "iap_12520020000120", "cm-token-4f95d151", "cm-callback-7a1e"
RBM_AGENT = "hongyan_sandbox_agent"
RBM_CLIENT_TOKEN = "rbm-client-token-5d1e"

Took = Callable[[str], bool]  # E.164 number → whether this kind's simulator took an RCS message to it


async def hosted_media_card(api) -> dict:
    """A card whose image is one of ours: uploaded to the media library (`/media/…`), so each
    channel must upload it to its operator before the card goes."""
    from tests.dispatch.test_media import with_media

    png = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(png, "PNG")
    uploaded = await api.client.post(
        "/v1/media", data=png.getvalue(), headers={**api.auth, "Content-Type": "image/png"}
    )
    assert uploaded.status in (200, 201), await uploaded.text()
    item = await uploaded.json()
    doc = with_media(item["url"])
    doc["message"]["generalPurposeCard"]["content"]["media"]["mediaFileSize"] = item["file_size"]
    return doc


async def _add_channel(api, body: dict) -> None:
    made = await api.post("/v1/channels", body)
    assert made.status == 201, await made.text()


@asynccontextmanager
async def cm_channel(api, port: int, timing: SimulatorTiming) -> AsyncIterator[CmNetApiSimulator]:
    """The tenant's active channel: China Mobile (`cm`, OMA NetAPI XML) on its simulator."""
    sim = CmNetApiSimulator(callback_base_url=f"http://127.0.0.1:{port}/rcs", timing=timing)
    sim.add_chatbot(CM_CHATBOT, CM_APP_ID, CM_TOKEN, CM_CALLBACK_TOKEN)
    await sim.start()
    try:
        await _add_channel(
            api,
            {
                "operator": "cm",
                "server_root": f"http://{sim.server_root}",
                "chatbot_id": CM_CHATBOT,
                "app_id": CM_APP_ID,
                "app_key": CM_TOKEN,
                "callback_token": CM_CALLBACK_TOKEN,
            },
        )
        yield sim
    finally:
        await sim.stop()


@asynccontextmanager
async def rbm_channel(api, port: int, timing: SimulatorTiming) -> AsyncIterator[RbmSimulator]:
    """The tenant's active channel: Google RBM (`rbm`, OAuth with a service-account key) on its
    simulator, which pushes events to the platform's webhook."""
    sim = RbmSimulator(timing=timing)
    await sim.start()
    try:
        webhook = f"http://127.0.0.1:{port}/rcs/rbm/{RBM_AGENT}"
        account = sim.add_agent(RBM_AGENT, client_token=RBM_CLIENT_TOKEN, webhook_url=webhook)
        await _add_channel(
            api,
            {
                "operator": "rbm",
                "server_root": f"http://{sim.root}",
                "chatbot_id": f"sip:{RBM_AGENT}@rbm.goog",
                "app_id": account["client_email"],
                "app_key": orjson.dumps(account).decode(),
                "callback_token": RBM_CLIENT_TOKEN,
            },
        )
        yield sim
    finally:
        await sim.stop()
