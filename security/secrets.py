"""Secrets from configuration: read from the environment or a file, never shown.

A `Secret` prints as `Secret(***)` in logs, reprs and tracebacks; the value comes out only
through `reveal()`, at the one place that sends it to a peer.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


class Secret:
    """A credential whose value is never printed."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        """The value itself (to hand to the peer that checks it)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


class SecretError(ValueError):
    """A secret is missing or cannot be read; the message names where it was looked for."""


def read_file_secret(path: str | Path) -> Secret:
    """A secret kept in a file (trailing newline dropped), e.g. a mounted container secret."""
    try:
        value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise SecretError(f"cannot read the secret file {path}: {exc.strerror}") from None
    if not value:
        raise SecretError(f"the secret file {path} is empty")
    return Secret(value)


def env_secret(env: Mapping[str, str], name: str) -> Secret | None:
    """`name` from the environment, or the file named by `name_FILE`; None when neither is set."""
    if env.get(name):
        return Secret(env[name])
    if env.get(f"{name}_FILE"):
        return read_file_secret(env[f"{name}_FILE"])
    return None


def resolve_secret(spec: object, env: Mapping[str, str], *, where: str) -> Secret:
    """A secret named in a configuration file: `{env = "NAME"}` or `{file = "/path"}`. A value
    written into the file itself is refused, so credentials never sit in a checked-in config."""
    if not isinstance(spec, Mapping) or len(spec) != 1 or not ({"env", "file"} & set(spec)):
        raise SecretError(f'{where}: give a secret as {{env = "NAME"}} or {{file = "/path"}}, not a value')
    if "env" in spec:
        name = str(spec["env"])
        if not env.get(name):
            raise SecretError(f"{where}: the environment variable {name} is not set")
        return Secret(env[name])
    try:
        return read_file_secret(str(spec["file"]))
    except SecretError as exc:
        raise SecretError(f"{where}: {exc}") from None
