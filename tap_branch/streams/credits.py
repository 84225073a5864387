"""Placeholder: this stream family is being built; it declares no settings and no streams yet."""

SETTINGS: list = []


def build_streams(tap) -> list:
    return []
