"""Keep secrets out of logs, errors, state and records.

The SDK redacts nothing by itself: its error messages embed URLs and response
bodies, and `requests`/`urllib3` log full URLs at debug level. Everything that
leaves the tap as text goes through one of the helpers below.
"""

from __future__ import annotations

import logging
import re
import threading
import typing as t
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "REDACTED"

#: Query parameters that carry credentials, in Branch's APIs or in signed URLs
#: (S3 SigV2/SigV4, CloudFront, GCS). Compared case-insensitively.
SENSITIVE_QUERY_KEYS = frozenset(
    {
        "branch_secret",
        "access_token",
        "access-token",
        "api_key",
        "user_id",
        "signature",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "awsaccesskeyid",
        "key-pair-id",
        "policy",
        "x-goog-signature",
        "x-goog-credential",
        "sig",
        "token",
    }
)

# `key=value` pairs inside arbitrary text (a URL embedded in an error message).
_QUERY_PAIR_RE = re.compile(
    r"(?i)\b("
    + "|".join(re.escape(k) for k in sorted(SENSITIVE_QUERY_KEYS, key=len, reverse=True))
    + r")=((?:[^&\s\"'<>:]|:(?!\s|$))+)"
)

# `"key": "value"` pairs inside text (a JSON request or response body quoted in an error).
_JSON_PAIR_RE = re.compile(
    r'(?i)("(?:'
    + "|".join(re.escape(k) for k in sorted(SENSITIVE_QUERY_KEYS, key=len, reverse=True))
    + r')"\s*:\s*")'
    r'((?:[^"\\]|\\.)*)"'
)


def redact_url(url: str) -> str:
    """Return `url` with the values of sensitive query parameters replaced."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _QUERY_PAIR_RE.sub(lambda m: f"{m.group(1)}={REDACTED}", url)
    if not parts.query:
        return url
    pairs = [
        (key, REDACTED if key.lower() in SENSITIVE_QUERY_KEYS else value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(pairs, safe=REDACTED)))


def strip_query(url: str) -> str:
    """Return `url` without its query string: how a signed URL is stored in a record."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="", fragment=""))


# A URL's query inside text; slashes may come JSON-escaped (`https:\/\/host\/file?...`).
_URL_QUERY_RE = re.compile(r"""(https?:(?:\\?/){2}[^\s?#"'<>]*)\?[^\s"'<>]*""", re.IGNORECASE)


def strip_queries_in_text(text: str) -> str:
    """`text` with the query of every URL in it cut off: what an answer body quoted in an
    error shows of the signed URLs it holds (a signature under a name not in
    `SENSITIVE_QUERY_KEYS` would survive `redact`; the rest of a query is no help there)."""
    return _URL_QUERY_RE.sub(r"\1?...", text)


class SecretRegistry:
    """The secret values of this process, redacted wherever they appear in text."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def add(self, *values: object) -> None:
        """Register secret values of any JSON kind: a mistyped secret (a number, a list, an
        object) is quoted by validation errors as its text, so its leaves are registered."""
        with self._lock:
            for text in _texts(values):
                # Very short values would redact ordinary words; Branch secrets are long.
                if len(text) >= 4:
                    self._secrets.add(text)
            self._pattern = (
                re.compile(
                    "|".join(re.escape(s) for s in sorted(self._secrets, key=len, reverse=True))
                )
                if self._secrets
                else None
            )

    def clear(self) -> None:
        """Forget every secret: for tests, whose taps each register their own, so one test's
        secret (say, "wrong") does not redact another's text."""
        with self._lock:
            self._secrets.clear()
            self._pattern = None

    def redact(self, text: str) -> str:
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
        text = _QUERY_PAIR_RE.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
        return _JSON_PAIR_RE.sub(lambda m: f'{m.group(1)}{REDACTED}"', text)


def _texts(value: object) -> t.Iterator[str]:
    """The texts a value shows in an error: strings as they are, numbers as written, and
    the leaves of lists and objects (booleans and null are no secrets)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield str(value)
    elif isinstance(value, dict):
        yield from _texts(list(value.values()))
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _texts(item)


#: One registry per process: every tap instance adds its configured secrets.
SECRETS = SecretRegistry()


def redact(text: str) -> str:
    return SECRETS.redact(text)


class RedactingFilter(logging.Filter):
    """Rewrites each log record's message and traceback with secrets redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the record
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactingFilter()


def install_log_redaction() -> None:
    """Attach the redacting filter to every handler that exists now, and to the root logger.

    Handlers carry the filter so that records of every logger (the SDK's,
    `urllib3`'s, ours) are redacted on their way out, whichever logger made them.
    """
    root = logging.getLogger()
    loggers = [root] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
