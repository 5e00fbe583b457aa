"""HTTP edge of billing (/v1/billing, scope `billing`; changes need the operator's
`billing-admin` scope)."""

from __future__ import annotations

import html

from aiohttp import web
from sqlalchemy import select

from accounts.tables import tenants
from api.bodies import read_json
from api.middleware import SCOPES, TENANT_ID
from api.pagination import page_limit
from api.problems import FieldError, Problem
from api.query import query_choice
from api.responses import json_response
from billing import openapi as _openapi  # noqa: F401  (registers the API description)
from billing.prices import CURRENCY
from billing.service import ADJUSTMENT, CREDIT, MAX_PAGE, Billing, parse_price_changes, statement_csv
from billing.tables import DEFAULT_BOOK
from store.money import MoneyError, parse_money

BILLING = web.AppKey("billing", Billing)
ADMIN_SCOPE = "billing-admin"
MAX_NOTE = 200

routes = web.RouteTableDef()


def _require_admin(request: web.Request) -> None:
    scopes = request.get(SCOPES)
    if not scopes or ADMIN_SCOPE not in scopes:
        raise Problem(403, f"changing prices, credits or limits needs the operator's `{ADMIN_SCOPE}` scope")


async def _target(request: web.Request, body: dict, *, allow_default: bool = False) -> str:
    """The tenant a change is for: `tenant_id` in the body (the caller's own by default)."""
    given = body.get("tenant_id")
    if given is None:
        return request[TENANT_ID]
    if allow_default and given in ("default", DEFAULT_BOOK):
        return DEFAULT_BOOK
    if not isinstance(given, str) or not 0 < len(given) <= 32:
        raise Problem(422, "tenant_id is not a tenant id", [FieldError("/tenant_id", "expected a tenant id")])
    async with request.app[BILLING].db.read.connect() as conn:
        found = (await conn.execute(select(tenants.c.id).where(tenants.c.id == given))).first()
    if found is None:
        raise Problem(422, "no such tenant", [FieldError("/tenant_id", "no tenant has this id")])
    return given


@routes.get("/v1/billing/prices")
async def get_prices(request: web.Request) -> web.Response:
    billing = request.app[BILLING]
    if query_choice(request.query, "book", ("default",)) == "default":
        return json_response(await billing.default_prices())
    return json_response(await billing.prices(request[TENANT_ID]))


@routes.put("/v1/billing/prices")
async def put_prices(request: web.Request) -> web.Response:
    _require_admin(request)
    body = await read_json(request)
    book, changes = parse_price_changes(body)
    target = await _target(request, {"tenant_id": book} if book else {}, allow_default=True)
    billing = request.app[BILLING]
    await billing.set_prices(target, changes)
    if target == DEFAULT_BOOK:
        return json_response(await billing.default_prices())
    return json_response(await billing.prices(target))


@routes.get("/v1/billing/balance")
async def get_balance(request: web.Request) -> web.Response:
    return json_response(await request.app[BILLING].balance(request[TENANT_ID]))


@routes.post("/v1/billing/credits")
async def post_credit(request: web.Request) -> web.Response:
    _require_admin(request)
    body = await read_json(request)
    errors = [FieldError(f"/{k}", "unknown field") for k in body if k not in ("tenant_id", "amount", "type", "note")]
    kind = body.get("type", CREDIT)
    if kind not in (CREDIT, ADJUSTMENT):
        errors.append(FieldError("/type", "credit (a top-up) or adjustment"))
    amount = 0
    try:
        amount = parse_money(body.get("amount"), signed=kind == ADJUSTMENT)
        if amount == 0 or (kind == CREDIT and amount < 0):
            errors.append(FieldError("/amount", "a top-up is a positive amount"))
    except MoneyError as exc:
        errors.append(FieldError("/amount", str(exc)))
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE):
        errors.append(FieldError("/note", f"a string of at most {MAX_NOTE} characters"))
    if errors:
        raise Problem(422, "the credit is not valid", errors)
    target = await _target(request, body)
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 0 < len(key) <= 64:
        raise Problem(
            422, "Idempotency-Key is 1 to 64 characters", [FieldError("/Idempotency-Key", "1 to 64 characters")]
        )
    entry = await request.app[BILLING].credit(target, amount, kind=kind, note=note, key=key)
    return json_response({**entry, "tenant_id": target, "currency": CURRENCY}, status=201)


@routes.put("/v1/billing/credit-limit")
async def put_credit_limit(request: web.Request) -> web.Response:
    _require_admin(request)
    body = await read_json(request)
    errors = [FieldError(f"/{k}", "unknown field") for k in body if k not in ("tenant_id", "credit_limit")]
    if "credit_limit" not in body:
        errors.append(FieldError("/credit_limit", "required: a decimal string in yuan, or null for no limit"))
    limit = None
    if body.get("credit_limit") is not None:
        try:
            limit = parse_money(body["credit_limit"])
        except MoneyError as exc:
            errors.append(FieldError("/credit_limit", str(exc)))
    if errors:
        raise Problem(422, "the credit limit is not valid", errors)
    target = await _target(request, body)
    return json_response(await request.app[BILLING].set_credit_limit(target, limit))


@routes.get("/v1/billing/entries")
async def list_entries(request: web.Request) -> web.Response:
    limit = page_limit(request.query, default=50, maximum=MAX_PAGE)
    items, cursor = await request.app[BILLING].entries(
        request[TENANT_ID], cursor=request.query.get("cursor"), limit=limit
    )
    return json_response({"data": items, "next_cursor": cursor})


@routes.get("/v1/billing/messages/{message_id}")
async def message_cost(request: web.Request) -> web.Response:
    mid = request.match_info["message_id"]
    found = await request.app[BILLING].message_cost(request[TENANT_ID], mid) if len(mid) <= 32 else None
    if found is None:
        raise Problem(404, "no such message")
    return json_response(found)


@routes.get("/v1/billing/statements/{month}")
async def statement(request: web.Request) -> web.Response:
    doc = await request.app[BILLING].statement(request[TENANT_ID], request.match_info["month"])
    fmt = request.query.get("format")
    if fmt is None:
        accept = request.headers.get("Accept", "")
        fmt = "csv" if "text/csv" in accept else "html" if "text/html" in accept else "json"
    if fmt == "csv":
        return web.Response(
            text=statement_csv(doc),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="statement-{doc["month"]}.csv"'},
        )
    if fmt == "html":
        return web.Response(text=statement_html(doc), content_type="text/html", charset="utf-8")
    if fmt != "json":
        raise Problem(422, "format is json, csv or html", [FieldError("/format", "one of: json, csv, html")])
    return json_response(doc)


_LABELS = {
    "hold": "Held at accept",
    "release": "Holds given back on delivery",
    "charge": "Delivered messages",
    "refund": "Refunds (failed messages)",
    "credit": "Top-ups",
    "adjustment": "Adjustments",
}


def statement_html(doc: dict) -> str:
    """A printable page (print it to PDF from the browser): no scripts, no outside resources."""
    e = html.escape
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=n' if i >= 4 else ''}>{e(str(v if v is not None else ''))}</td>"
            for i, v in enumerate(
                (
                    _LABELS.get(line["type"], line["type"]),
                    line["channel"],
                    line["carrier"],
                    line["kind"],
                    line["count"],
                    line["units"],
                    line["unit_price"],
                    line["amount"],
                )
            )
        )
        + "</tr>"
        for line in doc["lines"]
    )
    totals = "".join(
        f"<tr><th>{e(_LABELS.get(k, k))}</th><td class=n>{e(v)}</td></tr>" for k, v in doc["totals"].items()
    )
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>Statement {e(doc["month"])}</title>
<style>
body{{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:2em;color:#111}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #999;padding:.3em .6em;text-align:left}}
td.n{{text-align:right;font-variant-numeric:tabular-nums}}@media print{{body{{margin:0}}}}
</style></head><body>
<h1>Statement {e(doc["month"])}</h1>
<p>Tenant {e(doc["tenant_id"])} · {e(doc["from"])} – {e(doc["to"])} ({e(doc["time_zone"])}) · {e(doc["currency"])}</p>
<table><tr><th>Opening balance</th><td class=n>{e(doc["opening_balance"])}</td></tr>{totals}
<tr><th>Closing balance</th><td class=n>{e(doc["closing_balance"])}</td></tr></table>
<table><thead><tr><th>Entries</th><th>Channel</th><th>Carrier</th><th>Kind</th><th>Count</th><th>Units</th>
<th>Unit price</th><th>Amount</th></tr></thead><tbody>{rows}</tbody></table>
</body></html>
"""
