"""The SMS route kinds a routes file may name, one line each: kind → factory (`fallback.route`)."""

from fallback.client import smpp_route
from fallback.gateways.cmpp import cmpp_route
from fallback.gateways.sgip import sgip_route
from fallback.gateways.smgp import smgp_route
from fallback.route import RouteFactory

ROUTE_KINDS: dict[str, RouteFactory] = {
    "smpp": smpp_route,
    "cmpp": cmpp_route,
    "smgp": smgp_route,
    "sgip": sgip_route,
}
