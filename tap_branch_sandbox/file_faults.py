"""Sandbox faults that change what a file is, or how it arrives.

What a signed URL has been seen to answer with a 200 besides the export: a
proxy's or captive portal's HTML page, an XML document, a JSON error or a JSON
value where rows belong, an empty body, a file without its header line or with
a column renamed, a line cut short. Each rule names one (`kind`, see `REWRITES`)
and is scripted through `POST /_sandbox/faults` like the transport faults.

- `wrong_body`: `body` is html | xml | json_string | json_array | json_object | empty | blank
  (`empty`: 0 bytes; `blank`: a gzip stream holding nothing, i.e. no header line).
  `gzip` (default: true for the json bodies) compresses it; `content_type` overrides the
  Content-Type (default: what such a body is usually served as).
- `header`: `rename` {"old": "new"} renames header columns; `drop: true` removes the header line.
- `corrupt_line`: line `line` (1 = the first line of the file) is cut in half.
- `drip` (how it arrives): the file's first `head` bytes at once (default 0), then `bytes`
  bytes every `every` seconds (defaults 1 and 1.0): a host that answers each read well within
  any timeout and never finishes (the connection is kept alive, the file never ends). With
  `until`, the drip stops after that many bytes and the rest comes at once (a host slow to
  start: its first bytes arrive one read at a time).

Files are small in the sandbox, so a rewrite reads the file whole.
"""

from __future__ import annotations

import gzip
import json
import time
import typing as t

REWRITES = frozenset({"wrong_body", "header", "corrupt_line"})
#: Faults of the pace a file is sent at (`dripped`).
PACED = frozenset({"drip"})
KINDS = REWRITES | PACED

_BODIES: dict[str, tuple[bytes, str]] = {
    "html": (
        b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head>"
        b"<body><p>Please sign in to continue.</p></body></html>\n",
        "text/html; charset=utf-8",
    ),
    "xml": (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b"<ListBucketResult><Name>exports</Name><IsTruncated>false</IsTruncated></ListBucketResult>\n",
        "application/xml",
    ),
    "json_string": (json.dumps("export is being generated").encode() + b"\n", "application/json"),
    "json_array": (
        json.dumps([{"id": "1", "name": "OPEN"}, {"id": "2", "name": "INSTALL"}]).encode() + b"\n",
        "application/json",
    ),
    "json_object": (
        json.dumps({"error": {"message": "export unavailable", "code": 500}}).encode() + b"\n",
        "application/json",
    ),
    "empty": (b"", "application/gzip"),
    "blank": (b"", "application/gzip"),
}


def check_rule(rule: dict) -> None:
    """Reject a rewrite rule the sandbox cannot apply (the control endpoint answers 400)."""
    if rule["kind"] == "wrong_body" and rule.get("body") not in _BODIES:
        raise ValueError(f"wrong_body needs 'body' in {sorted(_BODIES)}")
    if rule["kind"] == "header" and not (rule.get("rename") or rule.get("drop")):
        raise ValueError("header needs 'rename' or 'drop'")
    if rule["kind"] == "corrupt_line" and int(rule.get("line", 0)) < 1:
        raise ValueError("corrupt_line needs 'line' >= 1")
    if rule["kind"] == "drip" and not (
        int(rule.get("bytes", 1)) >= 1
        and float(rule.get("every", 1.0)) > 0
        and int(rule.get("head", 0)) >= 0
        and int(rule.get("until", 0)) >= 0
    ):
        raise ValueError(
            "drip needs 'bytes' >= 1, 'every' > 0 seconds, 'head' >= 0 and 'until' >= 0"
        )


def rewritten(rule: dict, stored: bytes, content_type: str) -> tuple[bytes, str]:
    """The body and Content-Type served instead of the `stored` file under `rule`."""
    kind = rule["kind"]
    if kind == "wrong_body":
        body, default_type = _BODIES[rule["body"]]
        compress = rule.get("gzip", rule["body"].startswith("json") or rule["body"] == "blank")
        if compress:
            body = gzip.compress(body, mtime=0)
            default_type = "application/gzip"
        return body, rule.get("content_type") or default_type
    compressed = stored[:2] == b"\x1f\x8b"
    text = gzip.decompress(stored) if compressed else stored
    lines = text.splitlines(keepends=True)
    if kind == "header":
        lines = lines[1:] if rule.get("drop") else [_renamed(lines[0], rule["rename"]), *lines[1:]]
    elif kind == "corrupt_line":
        number = int(rule["line"])
        if number <= len(lines):
            line = lines[number - 1].rstrip(b"\r\n")
            lines[number - 1] = line[: max(1, len(line) // 2)] + b"\n"
    text = b"".join(lines)
    return (gzip.compress(text, mtime=0) if compressed else text), content_type


def dripped(rule: dict, path: str) -> t.Iterator[bytes]:
    """The file at `path`, sent at the pace of a `drip` rule."""
    head, size, every = (
        int(rule.get("head", 0)),
        int(rule.get("bytes", 1)),
        float(rule.get("every", 1.0)),
    )
    until = int(rule["until"]) if "until" in rule else None
    with open(path, "rb") as handle:
        if head:
            yield handle.read(head)
        while until is None or handle.tell() < until:
            chunk = handle.read(size)
            if not chunk:
                return
            time.sleep(every)
            yield chunk
        time.sleep(every)
        yield handle.read()


def _renamed(header: bytes, rename: t.Mapping[str, str]) -> bytes:
    ending = header[len(header.rstrip(b"\r\n")) :]
    columns = header.rstrip(b"\r\n").decode("utf-8").split(",")
    return ",".join(rename.get(column, column) for column in columns).encode() + ending
