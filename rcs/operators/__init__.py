"""Operator MaaP modules, registered explicitly by name."""

from rcs.operators.cn_csp import CnCspMaap, CnCspSettings, MediaUploadError, TokenError
from rcs.operators.rbm import RbmChannel

OPERATORS: dict[str, type] = {
    "cn_csp": CnCspMaap,
    "rbm": RbmChannel,
}

__all__ = ["OPERATORS", "RbmChannel", "CnCspMaap", "CnCspSettings", "MediaUploadError", "TokenError"]
