"""The SMS routes file: what it configures, and a clear error for each way it can be wrong."""

from __future__ import annotations

import tomllib

import pytest

from fallback.kinds import ROUTE_KINDS
from fallback.route import RouteHooks
from fallback.routes_file import RoutesFileError, load_routes, parse_routes
from fallback.routing import CarrierRouter
from security.secrets import Secret

GOOD = """
sender = "10690001"

[routes.cm-primary]
kind = "smpp"
host = "smsc-a.example.net"
port = 2775
system_id = "hy"
password = { env = "CM_PASSWORD" }
max_per_second = 200
burst = 400
window = 32

[routes.aggregator]
kind = "smpp"
host = "smsc-b.example.net"
port = 2776
system_id = "hy2"
password = { file = "PASSWORD_FILE" }
max_per_second = 50

[carriers]
china_mobile = ["cm-primary", "aggregator"]
default = ["aggregator"]

[prefixes]
"+852" = "default"
"+86138" = "china_mobile"

[health]
cooldown_seconds = 5
"""


def test_a_full_routes_file(tmp_path):
    secret_file = tmp_path / "agg.secret"
    secret_file.write_text("from-a-file\n")
    path = tmp_path / "routes.toml"
    path.write_text(GOOD.replace("PASSWORD_FILE", str(secret_file)))
    loaded = load_routes(path, kinds=ROUTE_KINDS, env={"CM_PASSWORD": "from-env"})

    assert loaded.sender == "10690001"
    primary, backup = loaded.routes
    assert (primary.name, primary.kind, primary.settings.max_per_second, primary.settings.burst) == (
        "cm-primary", "smpp", 200.0, 400.0,
    )  # fmt: skip
    assert primary.options["password"] == Secret("from-env") and backup.options["password"] == Secret("from-a-file")
    assert primary.options["window"] == 32 and "max_per_second" not in primary.options
    assert "from-env" not in repr(primary) and "from-a-file" not in repr(loaded)

    router = CarrierRouter(loaded.router)
    assert loaded.router.carriers["china_mobile"].order == ("cm-primary", "aggregator")
    assert loaded.router.health.cooldown_seconds == 5
    assert router.carrier_of("+85291234567") == "default"  # a configured prefix wins
    assert router.carrier_of("+8613800138000") == "china_mobile"
    health = {r["route"]: r["serves"] for r in router.health()}
    assert health == {"cm-primary": ["china_mobile:primary"], "aggregator": ["china_mobile:backup", "default:primary"]}


def test_failover_order_beyond_a_backup():
    raw = {
        "routes": {n: {"kind": "smpp", "max_per_second": 10} for n in ("a", "b", "c")},
        "carriers": {"default": ["a", "b", "c"]},
    }
    router = CarrierRouter(parse_routes(raw, kinds=ROUTE_KINDS, env={}, where="t").router, clock=lambda: 100.0)
    assert router.choose("default").route == "a"
    for route in ("a", "b"):  # both fail every send until they leave rotation
        for _ in range(router.config.health.min_samples):
            router.record(route, ok=False, latency=0.01)
    assert router.choose("default").route == "c"
    assert [r["state"] for r in router.health()] == ["out_of_rotation", "out_of_rotation", "in_rotation"]


def test_one_route_needs_no_carriers():
    raw = {"routes": {"only": {"kind": "smpp", "max_per_second": 5}}}
    loaded = parse_routes(raw, kinds=ROUTE_KINDS, env={}, where="t")
    assert loaded.router.carriers["default"].order == ("only",)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("not = [valid", "not valid TOML"),
        ("[route.x]\nkind='smpp'", "unknown section(s) route"),
        ("sender = '1069'", "[routes] must define at least one route"),
        (
            "[routes.x]\nkind = 'carrier-pigeon'\nmax_per_second = 1",
            "routes.x: kind must be one of cmpp, sgip, smgp, smpp",
        ),
        ("[routes.x]\nkind = 'smpp'", "routes.x: max_per_second must be a positive number"),
        ("[routes.x]\nkind = 'smpp'\nmax_per_second = -3", "max_per_second must be a positive number"),
        ("[routes.x]\nkind = 'smpp'\nmax_per_second = 1\nburst = 0", "burst must be a number of at least 1"),
        (
            "[routes.x]\nkind = 'smpp'\nmax_per_second = 1\npassword = 'hunter2'",
            "routes.x.password: give a secret as {env",
        ),
        ("[routes.x]\nkind = 'smpp'\nmax_per_second = 1\npassword = {env = 'NOPE'}", "NOPE is not set"),
        (
            "[routes.x]\nkind = 'smpp'\nmax_per_second = 1\npassword = {file = '/nonexistent/x'}",
            "cannot read the secret file",
        ),
        (
            "[routes.a]\nkind='smpp'\nmax_per_second=1\n[routes.b]\nkind='smpp'\nmax_per_second=1",
            "[carriers] needs a default",
        ),
        (
            "[routes.a]\nkind='smpp'\nmax_per_second=1\n[carriers]\ndefault = ['zz']",
            "carrier default: unknown route 'zz'",
        ),
        ("[routes.a]\nkind='smpp'\nmax_per_second=1\n[carriers]\ndefault = []", "carriers.default must be a list"),
        ("[routes.a]\nkind='smpp'\nmax_per_second=1\n[prefixes]\n'852' = 'default'", "write it as + and digits"),
        ("[routes.a]\nkind='smpp'\nmax_per_second=1\n[prefixes]\n'+852' = 'mars'", "unknown carrier 'mars'"),
        ("[routes.a]\nkind='smpp'\nmax_per_second=1\n[health]\nspeed = 3", "[health] has unknown key(s) speed"),
        ("sender = 'abc'\n[routes.a]\nkind='smpp'\nmax_per_second=1", "sender must be a string of digits"),
        (
            "[routes.a]\nkind='smpp'\nmax_per_second=1\nin_doubt='retry'",
            "routes.a: in_doubt must be one of report, resend",
        ),
    ],
)
def test_each_mistake_is_named(tmp_path, text, error):
    path = tmp_path / "routes.toml"
    path.write_text(text)
    with pytest.raises(RoutesFileError) as caught:
        load_routes(path, kinds=ROUTE_KINDS, env={})
    assert error in str(caught.value)
    assert str(path) in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_a_missing_file(tmp_path):
    with pytest.raises(RoutesFileError, match="cannot read"):
        load_routes(tmp_path / "nope.toml", kinds=ROUTE_KINDS)


def test_the_docstring_example_is_a_valid_file():
    """The example in the module's documentation parses (so the docs cannot drift)."""
    import fallback.routes_file as module

    example = module.__doc__.split("```toml")[1].split("```")[0]
    raw = tomllib.loads(example)
    raw["routes"]["aggregator"] = {"kind": "smpp", "max_per_second": 10}
    loaded = parse_routes(raw, kinds=ROUTE_KINDS, env={"CM_SMPP_PASSWORD": "x"}, where="doc")
    assert [r.name for r in loaded.routes] == ["cm-primary", "aggregator"]


def test_the_readme_example_is_a_valid_file():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = readme.split("```toml")[1].split("```")[0]
    loaded = parse_routes(
        tomllib.loads(example),
        kinds=ROUTE_KINDS,
        env={"CM_SMPP_PASSWORD": "x", "AGG_SMPP_PASSWORD": "y", "CM_CMPP_SECRET": "z", "CT_SMGP_SECRET": "w",
             "CU_SGIP_SECRET": "v", "CU_SGIP_SMG_PASSWORD": "u"},
        where="README",
    )  # fmt: skip
    assert loaded.router.carriers["china_mobile"].order == ("cm-cmpp", "cm-primary", "aggregator")
    assert loaded.router.carriers["china_telecom"].order == ("ct-smgp", "aggregator")
    assert loaded.router.carriers["china_unicom"].order == ("cu-sgip", "aggregator")
    assert {r.name: r.kind for r in loaded.routes} == {
        "cm-primary": "smpp", "cm-cmpp": "cmpp", "ct-smgp": "smgp", "cu-sgip": "sgip", "aggregator": "smpp",
    }  # fmt: skip
    # each route's options are the ones its kind takes
    for r in loaded.routes:
        assert ROUTE_KINDS[r.kind](r.name, r.options, RouteHooks()) is not None


def test_a_tier_shares_its_traffic_by_weight_and_fails_over_as_one():
    raw = {
        "routes": {
            "a": {"kind": "smpp", "max_per_second": 1000, "weight": 3},
            "b": {"kind": "smpp", "max_per_second": 1000},
            "backup": {"kind": "smpp", "max_per_second": 1000},
        },
        "carriers": {"default": [["a", "b"], "backup"]},
    }
    loaded = parse_routes(raw, kinds=ROUTE_KINDS, env={}, where="t")
    assert loaded.router.carriers["default"].tiers == (("a", "b"), ("backup",))
    now = [100.0]
    router = CarrierRouter(loaded.router, clock=lambda: now[0])
    picks = []
    for _ in range(8):
        picks.append(router.choose("default").route)
        now[0] += 0.01  # the buckets refill: only the weights decide
    assert picks.count("a") == 6 and picks.count("b") == 2 and "backup" not in picks
    assert picks[:4] == ["a", "a", "b", "a"]  # smooth: b gets its turn within every four
    for route in ("a", "b"):
        for _ in range(router.config.health.min_samples):
            router.record(route, ok=False, latency=0.01)
    assert router.choose("default").route == "backup"
    assert {r["route"]: r["serves"] for r in router.health()}["b"] == ["default:primary"]


@pytest.mark.parametrize(
    ("carriers", "weight"),
    [([["a", 3]], 1), ([[]], 1), (["a"], 0), (["a"], 1.5)],
)
def test_bad_tiers_and_weights(carriers, weight):
    raw = {"routes": {"a": {"kind": "smpp", "max_per_second": 1, "weight": weight}}, "carriers": {"default": carriers}}
    with pytest.raises(RoutesFileError, match="carriers.default must be|weight must be"):
        parse_routes(raw, kinds=ROUTE_KINDS, env={}, where="t")


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"host": "h", "port": 1, "system_id": "hy"}, "SMPP route r: password is required"),
        ({"host": "h", "port": 1, "system_id": "hy", "password": Secret("123456789")}, "longer than SMPP's 8"),
        ({"host": "h", "port": 1, "system_id": "x" * 16, "password": Secret("pw")}, "longer than SMPP's 15"),
        (
            {"host": "h", "port": 1, "system_id": "hy", "password": Secret("pw"), "colour": 1},
            "unknown option(s) colour",
        ),
    ],
)
def test_an_smpp_route_checks_its_options_without_echoing_secrets(options, error):
    from fallback.client import smpp_route
    from fallback.route import RouteHooks

    with pytest.raises(ValueError) as caught:
        smpp_route("r", options, RouteHooks())
    assert error in str(caught.value) and "123456789" not in str(caught.value)


@pytest.mark.parametrize(
    ("line", "policy"), [("", "report"), ("in_doubt = 'report'", "report"), ("in_doubt = 'resend'", "resend")]
)
def test_each_route_names_its_policy_for_an_sms_in_doubt(line, policy):
    raw = tomllib.loads(f"[routes.a]\nkind = 'smpp'\nmax_per_second = 1\n{line}\n")
    routes = parse_routes(raw, kinds=ROUTE_KINDS, env={}, where="t")
    assert routes.routes[0].settings.in_doubt == policy
    assert "in_doubt" not in routes.routes[0].options  # the route's, not its kind's
