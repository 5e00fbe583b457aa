"""SMS routing across real processes (PostgreSQL): the sandbox simulators, one `serve` and one
`dispatch` process, and a routes file with a route per carrier (both to the sandbox SMSC).

- The API process holds no route, yet `GET /v1/sms/routes` shows both, from the snapshots the
  dispatch process writes (`source: shared`).
- A number listed as ported through the API process goes over its new carrier's route from the
  next SMS: the `ported` wake-up reached the dispatch process and dropped its cache (which held
  "not listed" for that number, for 30 s, from the first SMS).
"""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import AsyncExitStack

import aiohttp

from fallback.smsc.simulator import SANDBOX_PASSWORD, SANDBOX_SYSTEM_ID
from tests.conftest import TEST_MASTER_KEY, UNRESTRICTED_RULES, prepare_database
from tests.dispatch.test_kill import free_port
from tests.dispatch.test_scale_out import Processes, wait_ready

NUMBER = "+8613800138030"  # China Mobile's range; not RCS-capable (…0): an SMS
DEADLINE_S = 30.0


async def _until(what, check, processes: Processes):
    deadline = time.monotonic() + DEADLINE_S
    while True:
        found = await check()
        if found is not None:
            return found
        assert time.monotonic() < deadline, f"{what} never happened\n{processes.tail()}"
        await asyncio.sleep(0.2)


async def test_an_api_process_sees_route_health_and_a_ported_number_reroutes_at_once(
    database_templates, tmp_path, pg_url
):
    await prepare_database(database_templates, tmp_path, pg_url)
    port, dispatch_port = free_port(), free_port()
    env = {
        "HONGYAN_DATABASE_URL": pg_url,
        "HONGYAN_MASTER_KEY": TEST_MASTER_KEY,
        "HONGYAN_LOG_LEVEL": "WARNING",
        "SMSC_PW": SANDBOX_PASSWORD,
    }
    processes = Processes(tmp_path, env)
    async with AsyncExitStack() as exits:
        exits.push_async_callback(processes.stop)
        tenant = json.loads(await processes.run("tenant", "create", "Split routes"))
        admin = json.loads(await processes.run("ported-numbers", "admin-key", tenant["tenant_id"]))["api_key"]
        sims = await processes.start("simulators", "--port", str(port), stdout=asyncio.subprocess.PIPE)
        assert sims.stdout is not None
        where = json.loads(await asyncio.wait_for(sims.stdout.readline(), 60) or b"null")
        assert where, processes.tail()
        host, _, smsc_port = where["smsc_address"].rpartition(":")
        route = (
            f'kind = "smpp"\nhost = "{host}"\nport = {smsc_port}\nsystem_id = "{SANDBOX_SYSTEM_ID}"\n'
            'password = { env = "SMSC_PW" }\nmax_per_second = 100\n'
        )
        routes = tmp_path / "routes.toml"
        routes.write_text(
            f'[routes.cm]\n{route}[routes.cu]\n{route}[carriers]\nchina_mobile = ["cm"]\nchina_unicom = ["cu"]\n'
            'default = ["cu"]\n'
        )
        env.update({"HONGYAN_MAAP_URL": where["maap_url"], "HONGYAN_ROUTES": str(routes)})
        api = await processes.start("serve", "--port", str(port))
        dispatcher = await processes.start("dispatch", "--metrics-port", str(dispatch_port))
        await wait_ready(f"http://127.0.0.1:{port}/readyz", api, processes)
        await wait_ready(f"http://127.0.0.1:{dispatch_port}/readyz", dispatcher, processes)

        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {tenant['api_key']}"}) as http:
            async with http.put(f"{base}/v1/compliance/send-rules", json=UNRESTRICTED_RULES) as resp:
                assert resp.status == 200, await resp.text()  # the same number several times

            async def sms_route() -> str:
                body = {"to": NUMBER, "text": "您的验证码是 4721", "traffic_type": "otp"}
                async with http.post(f"{base}/v1/messages", json=body) as resp:
                    assert resp.status == 202, await resp.text()
                    [msg] = (await resp.json())["messages"]

                async def sent():
                    async with http.get(f"{base}/v1/messages/{msg['id']}") as resp:
                        view = await resp.json()
                    events = [e for e in view["events"] if e["type"] == "sms_sent"]
                    return events[0]["detail"]["route"] if events else None

                return await _until("the SMS", sent, processes)

            first_sent = time.monotonic()  # the dispatcher cached "not listed" for NUMBER about now
            assert await sms_route() == "cm"

            async def shared():
                async with http.get(f"{base}/v1/sms/routes") as resp:
                    body = await resp.json()
                found = {r["route"]: r for r in body["data"]}
                return body if found.get("cm", {}).get("samples") else None

            health = await _until("the shared route health", shared, processes)
            assert health["source"] == "shared"
            assert {r["route"]: (r["state"], r["processes"]) for r in health["data"]} == {
                "cm": ("in_rotation", 1),
                "cu": ("in_rotation", 1),
            }

            listed = {"number": NUMBER, "carrier": "china_unicom"}
            async with http.post(
                f"{base}/v1/sms/ported-numbers", json=listed, headers={"Authorization": f"Bearer {admin}"}
            ) as resp:
                assert resp.status == 201, await resp.text()
            # Within a NOTIFY round trip, well before the dispatcher's 30 s cache would expire.
            for _ in range(10):
                if await sms_route() == "cu":
                    break
                await asyncio.sleep(0.2)
            else:
                raise AssertionError(f"the ported number kept its old route\n{processes.tail()}")
            # The dispatcher's cached answer (30 s) had not run out: the wake-up dropped it.
            assert time.monotonic() - first_sent < 25
