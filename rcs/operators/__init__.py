"""Operator MaaP modules, registered explicitly by name."""

from rcs.operators.cm_netapi import CmNetApiMaap
from rcs.operators.cn_csp import CnCspMaap, CnCspSettings, MediaUploadError, TokenError
from rcs.operators.rbm import RbmChannel

OPERATORS: dict[str, type] = {
    "cn_csp": CnCspMaap,
    "cm_netapi": CmNetApiMaap,
    "rbm": RbmChannel,
}

__all__ = ["OPERATORS", "CmNetApiMaap", "CnCspMaap", "CnCspSettings", "MediaUploadError", "RbmChannel", "TokenError"]
