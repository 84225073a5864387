"""The files Airbyte hands to the source (`--config`, `--catalog`, `--state`), read where they enter."""

from __future__ import annotations

import json
import typing as t


class InputError(ValueError):
    """A file Airbyte handed over is not what the protocol says: a config error, named."""


def read_json_file(path: str, option: str) -> t.Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as exc:
        raise InputError(f"{option} {path}: cannot read the file ({exc.strerror}).") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{option} {path}: not a JSON file ({exc}).") from None


def read_config(path: str) -> dict[str, t.Any]:
    config = read_json_file(path, "--config")
    if not isinstance(config, dict):
        raise InputError(f"--config {path}: the config must be a JSON object of settings.")
    return config
