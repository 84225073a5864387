"""Placeholder: this API family's sandbox endpoints are being built."""


def register(sandbox) -> None:
    return None
