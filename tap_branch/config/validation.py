"""What a settings-schema refusal says, on jsonschema's public API."""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from jsonschema import ValidationError


def describe(error: ValidationError) -> str:
    """The validator's message, then where in the settings it is: `... in config['apps'][0]`
    (the texts the SDK's own validation gives, which users and tests know)."""
    where = error.absolute_path
    if not where:
        return error.message
    return f"{error.message} in config[{']['.join(repr(part) for part in where)}]"
