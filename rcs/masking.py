"""Masking numbers for logs and pages (DESIGN.md §7: +86138****1234)."""
from __future__ import annotations


def mask_number(number: str) -> str:
    """Keep the country code with three digits and the last four: +86138****1234."""
    if number.startswith("tel:"):
        number = number[4:]
    plus = number.startswith("+")
    digits = number[1:] if plus else number
    if len(digits) <= 7:
        return ("+" if plus else "") + "*" * len(digits)
    head = 5 if plus and digits.startswith("86") else 3
    head = min(head, len(digits) - 4 - 1)
    return ("+" if plus else "") + digits[:head] + "****" + digits[-4:]
