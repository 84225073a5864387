"""The identities whose credits are read: setting `credit_identities`.

Either a list of identities, or the path of a text file with one identity per
line (users have thousands). A JSON array in a string is read as a list too,
because Meltano passes list settings given by environment variable as text.
"""

from __future__ import annotations

import json
import logging
import os
import typing as t

from tap_branch.config.errors import invalid_setting

SETTING = "credit_identities"
#: Branch's documented maximum length of an identity.
MAX_LENGTH = 127

logger = logging.getLogger(__name__)


def configured_identities(config: t.Mapping[str, t.Any]) -> list[str]:
    """The identities, in the order given, without blanks and duplicates; empty when unset."""
    value = config.get(SETTING)
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise invalid_setting(
                f"Setting '{SETTING}' looks like a JSON list but is not valid JSON: {exc}"
            ) from None
    if isinstance(value, str):
        return _unique(_read_file(value), source=f"file {value}")
    if isinstance(value, list):
        bad = [item for item in value if not isinstance(item, (str, int)) or isinstance(item, bool)]
        if bad:
            raise invalid_setting(
                f"Setting '{SETTING}' must list identities as text; got {bad[0]!r}."
            )
        return _unique((str(item).strip() for item in value), source=f"setting '{SETTING}'")
    raise invalid_setting(
        f"Setting '{SETTING}' must be a list of identities or the path of a file with one identity a line; "
        f"got a {type(value).__name__}."
    )


def _read_file(path: str) -> t.Iterator[str]:
    expanded = os.path.expanduser(path)
    try:
        handle = open(expanded, encoding="utf-8-sig")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise invalid_setting(
            f"Setting '{SETTING}' names the file {path!r} (resolved from {os.getcwd()}), which does not exist. "
            "Give a list of identities or the path of a file with one identity a line."
        ) from None
    except OSError as exc:
        raise invalid_setting(
            f"Setting '{SETTING}': cannot read the file {path!r}: {exc.strerror}."
        ) from None
    with handle:
        try:
            for line in handle:
                yield line.strip()
        except UnicodeDecodeError:
            raise invalid_setting(
                f"Setting '{SETTING}': the file {path!r} is not UTF-8 text (one identity a line)."
            ) from None


def _unique(identities: t.Iterable[str], *, source: str) -> list[str]:
    seen: set[str] = set()
    result: list[str] = []
    duplicates = too_long = 0
    for identity in identities:
        if not identity:
            continue
        if identity in seen:
            duplicates += 1
            continue
        if len(identity) > MAX_LENGTH:
            too_long += 1
        seen.add(identity)
        result.append(identity)
    if duplicates:
        logger.warning(
            "%s lists %d identities more than once; each is read once.", source, duplicates
        )
    if too_long:
        logger.warning(
            "%s has %d identities longer than Branch's maximum of %d characters; Branch may not know them.",
            source,
            too_long,
            MAX_LENGTH,
        )
    return result
