"""Errors the tap raises, and how Branch's error bodies are read."""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import re
import signal
import typing as t

import requests
import urllib3
from singer_sdk.exceptions import FatalAPIError

from tap_branch import clock
from tap_branch.redaction import redact, redact_url, strip_queries_in_text

_RETRY_AFTER_IN_BODY = re.compile(r"retry after (\d+(?:\.\d+)?) ?s", re.IGNORECASE)
_BODY_EXCERPT = 500
_XML_CODE = re.compile(r"<Code>([^<]{1,200})</Code>")
_XML_MESSAGE = re.compile(r"<Message>([^<]{1,500})</Message>")
_QUERY_IN_TEXT = re.compile(r"\?[^\s'\"()<>]*")

# What a 4xx (other than 429) means, read from its status and Branch's text: see `rejection_kind`.
CREDENTIALS = "credentials"
UNAVAILABLE = "unavailable"
IDENTITY = "identity"
REFUSED = "refused"

_IDENTITY_WORDS = re.compile(r"identit|user", re.I)
#: Words by which Branch refuses a credential ("Authentication failed !", an invalid key, secret
#: or access token). Not "forbidden" or "permission": a 403 saying only that is a product this
#: account (or the token's user) lacks, not a credential to replace (`refuses_credentials`).
_CREDENTIAL_WORDS = re.compile(
    r"auth|branch[_ ]?key|api key|invalid key|secret|credential|access[-_ ]?token", re.I
)


class RateLimitedError(Exception):
    """HTTP 429: retried after the wait Branch asks for, never given up early.

    Deliberately not a `RetriableAPIError`: those count against the SDK's retry
    budget, a rate limit only costs time.
    """

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimitTooLongError(FatalAPIError):
    """Branch asks for a wait past setting 'rate_limit_max_wait' (the message names it)."""


class SignedUrlExpiredError(FatalAPIError):
    """A signed file URL answered 403: it expired (or its signature is wrong)."""


class FileNotReadyError(FatalAPIError):
    """A file host answered 400: Branch has not finished that day's files yet."""


class DownloadError(FatalAPIError):
    """A file could not be read completely, after every retry."""


class NoAnswerError(FatalAPIError):
    """A request that timed out or lost its connection on every try: the server did not
    answer, which says nothing about the request (not "refused"). `timed_out`: something
    answered at the address, too slowly (else nothing answered there at all)."""

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class RequestRejected(FatalAPIError):
    """A 4xx (other than 429) answer, kept with its status and Branch's text (secrets removed),
    for `rejection_kind` and `refuses_credentials` to read."""

    def __init__(self, message: str, status: int, detail: str) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class StopRequested(BaseException):
    """SIGTERM (a scheduler cancelling the run, a container stopping) or SIGINT (Ctrl-C),
    raised on the main thread where it is, so that every cleanup on the way out runs: the
    batch files of a unit not announced yet are deleted. A BaseException: no retry's or
    fallback's `except Exception` takes it for a failure to handle."""

    def __init__(self, signum: int, *, syncing: bool) -> None:
        name = signal.Signals(signum).name
        super().__init__(
            f"Stopped by {name} before the end of the run. Nothing after the last STATE "
            "message is marked read (batch files not announced are deleted): the next run "
            "reads on from there."
            if syncing  # --discover, --test, an Airbyte check: nothing to read on from
            else f"Stopped by {name} before it was done; no sync had started."
        )
        #: The shell's status of a process ended by this signal.
        self.exit_status = 128 + signum


class InvalidStateError(ValueError):
    """The `--state` given to the tap is not a state this tap wrote (names stream and key)."""


def branch_error_message(response: requests.Response) -> str | None:
    """Branch's own error text from a response body, in any of its documented shapes.

    `{"error": {"message": ..., "code": ...}}`, `{"errors": [{"message": ..., "error_code": ...}]}`,
    `{"error_message": ...}`, `{"message": ...}`.
    """
    try:
        body = response.json()
    except ValueError:
        return _s3_error_message(response.text or "")
    return error_in_body(body)


def json_answer(
    response: requests.Response, what: str, kind: type | tuple[type, ...] = dict
) -> t.Any:
    """Branch's JSON answer to `what`, checked where it enters: JSON, a `kind` (object or
    list), and not an error object sent with a success status (`{"error": ...}` or
    `{"errors": [...]}` with HTTP 200: a proxy or an API that says 200 for everything).

    An object that repeats a key is refused too: JSON readers keep its last value, and a list
    of files or rows followed by the same key with `[]` would read as nothing there.

    Anything else fails naming `what` and showing the answer (secrets removed), instead of
    a bare decoding error, or an error body read as data.
    """
    try:
        body = response.json(object_pairs_hook=_each_key_once)
    except RepeatedKeyError as exc:
        raise FatalAPIError(
            f"Branch's answer to {what} repeats the key '{exc.key}', so which of its values is "
            "meant is unknown; it is not read, and the run stops before any bookmark passes it. "
            f"Run again later, and ask Branch support if it persists: {describe_response(response)}"
        ) from None
    except ValueError:
        raise FatalAPIError(
            f"Branch's answer to {what} is not JSON: {describe_response(response)}"
        ) from None
    if isinstance(body, dict) and (body.get("error") or body.get("errors")):
        raise FatalAPIError(f"Branch's answer to {what} is an error: {describe_response(response)}")
    if not isinstance(body, kind):
        raise FatalAPIError(
            f"Branch's answer to {what} is a JSON {type(body).__name__}, not "
            f"{_json_kinds(kind)}: {describe_response(response)}"
        )
    return body


class RepeatedKeyError(Exception):
    """A JSON object with a key twice (not a ValueError: `requests` passes it through)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _each_key_once(pairs: list[tuple[str, t.Any]]) -> dict:
    """A JSON object's pairs as a dict, or `RepeatedKeyError` naming a key that comes twice
    with different values (the same value twice leaves no doubt)."""
    body = dict(pairs)
    if len(body) < len(pairs):  # only then are the pairs compared
        for key, value in pairs:
            if body[key] != value or type(body[key]) is not type(value):  # true == 1
                raise RepeatedKeyError(key)
    return body


def _json_kinds(kind: type | tuple[type, ...]) -> str:
    names = {dict: "an object", list: "a list"}
    return " or ".join(names[k] for k in (kind if isinstance(kind, tuple) else (kind,)))


def error_in_body(body: t.Any) -> str | None:
    """Branch's error text in a decoded JSON body (shapes: see `branch_error_message`)."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    if isinstance(error, str):
        return error
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        return "; ".join(
            str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
        )
    for key in ("error_message", "message"):
        if body.get(key):
            return str(body[key])
    return None


def _s3_error_message(text: str) -> str | None:
    """`Code: Message` of an S3-style XML error (`<Error><Code>..</Code><Message>..</Message>`),
    what a signed file URL answers when it expired or the file is not there."""
    code, message = _XML_CODE.search(text), _XML_MESSAGE.search(text)
    if not (code or message):
        return None
    return ": ".join(m.group(1).strip() for m in (code, message) if m)


def rejection_kind(status: int, detail: str, *, asked: str | None = None) -> str:
    """CREDENTIALS, UNAVAILABLE (the endpoint, for this account), IDENTITY (Branch does not
    know this identity: a 404 about it) or REFUSED (any other 4xx: the request failed).

    `asked` (the identity or app id of the request) is cut out of Branch's text first:
    Branch quotes it ("Identity not found: author@example.com"), and its words are the
    user's, not Branch's: an identity containing "auth" is no credentials problem.
    """
    if asked:
        detail = detail.replace(asked, " ")
    if status in (401, 403) or _CREDENTIAL_WORDS.search(detail):
        return CREDENTIALS
    if status == 410 or (status == 404 and not _IDENTITY_WORDS.search(detail)):
        return UNAVAILABLE
    if status == 404:
        return IDENTITY
    return REFUSED


def refuses_credentials(status: int, detail: str, *, asked: str | None = None) -> bool:
    """Whether an answer says the credential is refused: a 401, or Branch's words about
    authentication, keys or tokens (Branch sends "Authentication failed !" with 400, and may
    with 403). A 403 or 404 without them ("Forbidden", no permission) says something else:
    this account, or the token's user, lacks the product. `asked`: as in `rejection_kind`."""
    if asked:
        detail = detail.replace(asked, " ")
    return status == 401 or bool(_CREDENTIAL_WORDS.search(detail))


def retry_after_seconds(response: requests.Response) -> float | None:
    """The wait a 429 asks for: the Retry-After header, else "retry after N seconds" in the body.

    None (the caller's default wait) when neither says it in a form RFC 9110 allows:
    a header such as `Retry-After: soon` must not crash the run.
    """
    header = (response.headers.get("Retry-After") or "").strip()
    if header:
        wait = _retry_after_header(header)
        if wait is not None:
            return wait
    match = _RETRY_AFTER_IN_BODY.search(response.text[:2000] if response.text else "")
    if match:
        return float(match.group(1))
    return None


def _retry_after_header(header: str) -> float | None:
    """Seconds from a Retry-After header: delay-seconds or an HTTP-date; None when it is neither."""
    try:
        seconds = float(header)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError, IndexError):  # not a date: Python raises any of these
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT
            when = when.replace(tzinfo=dt.timezone.utc)
        return max(0.0, (when - clock.now()).total_seconds())
    if not math.isfinite(seconds):  # "nan" and "inf" parse as floats
        return None
    return max(0.0, seconds)


def no_answer_reason(exc: BaseException, timeout: float) -> str:
    """A timeout or a lost connection in words, without the query urllib3's message quotes
    ("Max retries exceeded with url: /files/x?X-Amz-Signature=...")."""
    if isinstance(exc, (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError)):
        return f"timed out: nothing received within request_timeout ({timeout:g} s): {type(exc).__name__}"
    return f"{type(exc).__name__}: {redact(_QUERY_IN_TEXT.sub('?...', str(exc)))}"


def describe_response(response: requests.Response) -> str:
    """A one-line, secret-free description of a failed response for errors and logs."""
    method = response.request.method if response.request is not None else "GET"
    url = redact_url(response.url)
    # The body's URLs lose their queries: an answer may hold signed file URLs.
    detail = branch_error_message(response)
    if detail is None:
        text = strip_queries_in_text((response.text or "").strip().replace("\n", " "))
        detail = text[:_BODY_EXCERPT] + ("..." if len(text) > _BODY_EXCERPT else "")
    else:
        detail = strip_queries_in_text(detail)
    return redact(f"HTTP {response.status_code} {response.reason} for {method} {url}: {detail}")


class InvalidCatalogError(ValueError):
    """The `--catalog` given to the tap is not one this tap can run (names the file or stream)."""
