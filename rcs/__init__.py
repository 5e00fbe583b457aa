"""RCS: the operator channels (one module per operator interface), the MaaP simulator, callback
verification and the capability cache.

Names load on first use, so code that needs only the channel interface (`rcs.maap`,
`rcs.results`) does not pull in the HTTP client, the callbacks' server side or the simulator.
"""

import importlib

_EXPORTS = {
    "CallbackEndpoints": "rcs.callbacks",
    "CallbackFormatError": "rcs.callbacks",
    "NonceCache": "rcs.callbacks",
    "Verdict": "rcs.callbacks",
    "callback_signature": "rcs.callbacks",
    "parse_delivery_callback": "rcs.callbacks",
    "parse_user_callback": "rcs.callbacks",
    "signed_headers": "rcs.callbacks",
    "verify_callback": "rcs.callbacks",
    "CapabilityCache": "rcs.capability",
    "BOT_MESSAGE_TYPE": "rcs.maap",
    "ContentPart": "rcs.maap",
    "Maap": "rcs.maap",
    "OutboundMessage": "rcs.maap",
    "RcsChannel": "rcs.maap",
    "OPERATORS": "rcs.operators",
    "CnCspMaap": "rcs.operators",
    "CnCspSettings": "rcs.operators",
    "MediaUploadError": "rcs.operators",
    "TokenError": "rcs.operators",
    "Capability": "rcs.results",
    "DeliveryEvent": "rcs.results",
    "LIFECYCLE_STATUS": "rcs.results",
    "FailedAction": "rcs.results",
    "Location": "rcs.results",
    "MediaFile": "rcs.results",
    "Outcome": "rcs.results",
    "SendResult": "rcs.results",
    "UserEvent": "rcs.results",
    "classify_code": "rcs.results",
    "classify_failed_code": "rcs.results",
    "classify_http": "rcs.results",
    "Behaviour": "rcs.simulator",
    "MaapSimulator": "rcs.simulator",
    "RouteAccessLogger": "rcs.simulator",
    "SimulatorTiming": "rcs.simulator",
    "behaviour_of": "rcs.simulator",
    "capability_of": "rcs.simulator",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rcs' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
