"""Redaction of URLs, signed-URL signatures, free text, and every log record (tracebacks too)."""

from __future__ import annotations

import io
import logging
from urllib.parse import parse_qs, urlsplit

import pytest

from tap_branch.redaction import (
    REDACTED,
    SECRETS,
    RedactingFilter,
    install_log_redaction,
    redact,
    redact_url,
    strip_query,
)

SIGNED = (
    "https://branch-exports.s3.amazonaws.com/app-2024-01-01-events-abc.csv.gz"
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20240101%2Fus-west-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20240101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
    "&X-Amz-Security-Token=FQoGZXIvYXdzEXAMPLE&X-Amz-Signature=0123456789abcdef0123456789abcdef"
)


def test_signed_url_keeps_its_shape_and_loses_its_credentials():
    redacted = redact_url(SIGNED)
    query = parse_qs(urlsplit(redacted).query)
    assert query["X-Amz-Signature"] == [REDACTED]
    assert query["X-Amz-Credential"] == [REDACTED]
    assert query["X-Amz-Security-Token"] == [REDACTED]
    # Harmless parameters stay: they help debugging (which day, how long valid).
    assert query["X-Amz-Date"] == ["20240101T000000Z"] and query["X-Amz-Expires"] == ["3600"]
    for secret in ("0123456789abcdef", "AKIAEXAMPLE", "FQoGZXIvYXdz"):
        assert secret not in redacted
    assert urlsplit(redacted).path == urlsplit(SIGNED).path


@pytest.mark.parametrize(
    "url",
    [
        "https://d111.cloudfront.net/f.csv.gz?Expires=1700000000&Signature=abcDEF~123&Key-Pair-Id=APKAEXAMPLE",
        "https://bucket.s3.amazonaws.com/f.csv.gz?AWSAccessKeyId=AKIAOLD&Expires=1&Signature=old%2Bsig%3D",
        "https://storage.googleapis.com/b/f?X-Goog-Signature=goog123&X-Goog-Credential=svc%40p",
        "https://api.branch.io/v1/export/key_live_x?branch_secret=secret_live_q&export_date=2024-01-01",
        "https://api2.branch.io/v2/x?access_token=api_app_q&user_id=12345",
    ],
)
def test_every_kind_of_credential_parameter_is_redacted(url):
    redacted = redact_url(url)
    for key, values in parse_qs(urlsplit(url).query).items():
        if key.lower() in {"expires", "export_date"}:
            assert parse_qs(urlsplit(redacted).query)[key] == values
        else:
            assert values[0] not in redacted, key


def test_strip_query_is_how_files_are_named():
    assert (
        strip_query(SIGNED)
        == "https://branch-exports.s3.amazonaws.com/app-2024-01-01-events-abc.csv.gz"
    )


def test_urls_inside_free_text_are_redacted():
    text = f"HTTP 403 Forbidden for GET {SIGNED}: Request has expired"
    redacted = redact(text)
    assert "0123456789abcdef" not in redacted and "AKIAEXAMPLE" not in redacted
    assert redacted.startswith("HTTP 403 Forbidden for GET https://branch-exports")
    assert "Request has expired" in redacted
    assert redact("GET /v1/export/k?branch_secret=abc&x=1 failed") == (
        f"GET /v1/export/k?branch_secret={REDACTED}&x=1 failed"
    )


def test_json_pairs_inside_free_text_are_redacted():
    text = 'body {"branch_key": "key_live_pub", "branch_secret": "se\\"cret", "access_token":"tokvalue9"}'
    redacted = redact(text)
    assert 'se\\"cret' not in redacted and "tokvalue9" not in redacted
    assert '"branch_key": "key_live_pub"' in redacted  # public, kept


def test_registered_secrets_are_redacted_anywhere():
    SECRETS.add("secret_live_registered_1", None, "", "abc")  # None, empty and short values ignored
    assert redact("x secret_live_registered_1y") == f"x {REDACTED}y"
    assert redact("abc is an ordinary word") == "abc is an ordinary word"
    SECRETS.clear()  # what the tests' autouse fixture does after every test
    assert redact("x secret_live_registered_1y") == "x secret_live_registered_1y"


def _logger_with_handler(name: str) -> tuple[logging.Logger, io.StringIO, logging.Handler]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger, stream, handler


def test_log_filter_redacts_messages_args_and_tracebacks():
    SECRETS.add("secret_live_logfilter_1")
    logger, stream, handler = _logger_with_handler("test.redaction.filter")
    handler.addFilter(RedactingFilter())
    try:
        logger.info("calling %s with %s", SIGNED, {"branch_secret": "secret_live_logfilter_1"})
        try:
            raise RuntimeError(f"boom at {SIGNED} using secret_live_logfilter_1")
        except RuntimeError:
            logger.exception("request failed")
        logger.warning("broken %s format %s", "one")  # a bad format string must not hide the record
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "secret_live_logfilter_1" not in output
    assert "0123456789abcdef" not in output and "AKIAEXAMPLE" not in output
    assert "Traceback" in output and "RuntimeError: boom at" in output
    assert "request failed" in output and "broken" in output


def test_install_covers_existing_handlers_of_any_logger():
    SECRETS.add("secret_live_install_1")
    logger, stream, handler = _logger_with_handler("test.redaction.install")
    try:
        install_log_redaction()
        logging.getLogger("test.redaction.install.child").error("leak? secret_live_install_1")
        logger.error("url %s", SIGNED)
    finally:
        logger.removeHandler(handler)
    assert "secret_live_install_1" not in stream.getvalue()
    assert "0123456789abcdef" not in stream.getvalue()
    assert stream.getvalue().count("ERROR") == 2
