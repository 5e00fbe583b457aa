"""SMS fallback: segmentation, composition, the route interface and its kinds (SMPP), carrier
routing, short links and the SMSC simulator.

Names load on first use, so code that needs only the route interface (`fallback.route`) or
composition does not pull in the protocol clients or the HTTP handlers.
"""

import importlib

_EXPORTS = {
    "SmppClient": "fallback.client",
    "SmppError": "fallback.client",
    "InboundSms": "fallback.route",
    "MessageOutcome": "fallback.route",
    "NoRouteAvailable": "fallback.route",
    "PartState": "fallback.route",
    "RouteHooks": "fallback.route",
    "SentSms": "fallback.route",
    "SmsGateway": "fallback.route",
    "SmsRoute": "fallback.route",
    "SubmitError": "fallback.route",
    "SubmitResult": "fallback.route",
    "ComposeError": "fallback.compose",
    "compose_sms": "fallback.compose",
    "is_opt_out_reply": "fallback.compose",
    "routes": "fallback.http",
    "CarrierRouter": "fallback.routing",
    "CarrierRoutes": "fallback.routing",
    "HealthPolicy": "fallback.routing",
    "PortabilityLookup": "fallback.routing",
    "RouteChoice": "fallback.routing",
    "RouterConfig": "fallback.routing",
    "RouteSettings": "fallback.routing",
    "Part": "fallback.segmentation",
    "Segmentation": "fallback.segmentation",
    "SegmentationError": "fallback.segmentation",
    "segment_sms": "fallback.segmentation",
    "SmsSender": "fallback.sender",
    "SmscSimulator": "fallback.smsc",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'fallback' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
