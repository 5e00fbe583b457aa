"""SMSC simulator (SMPP 3.4 over TCP) for the sandbox and tests; run with `python -m fallback.smsc`."""

from fallback.smsc.simulator import SUFFIX_BEHAVIOUR, SmscSimulator, behaviour_for, main

__all__ = ["SUFFIX_BEHAVIOUR", "SmscSimulator", "behaviour_for", "main"]
