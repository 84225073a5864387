"""A local HTTP server that behaves like Branch's APIs, for tests, the demo and users' own CI.

One WSGI app (werkzeug) serves the API hosts and a signed-URL file host on the
same port. The core here knows credentials, the clock, signed URLs, files,
rate limits, fault injection and the control endpoints; each API family adds
its routes from its own module (`tap_branch_sandbox/<family>.py`, `register`).

Control endpoints (JSON), for tests that script the sandbox over HTTP:
- `POST /_sandbox/faults`   add fault rules: `{"rules": [{"kind": ..., "path": ..., "times": 1, ...}]}`
- `DELETE /_sandbox/faults` clear them
- `POST /_sandbox/clock`    `{"today": "YYYY-MM-DD"}` or `{"advance_days": N}`
- `POST /_sandbox/expire-urls`  every signed URL issued so far answers 403 from now on
- `GET|DELETE /_sandbox/requests`  the request log (method, path, status), or clear it
- `POST /_sandbox/options`  set family options (volumes, latencies, ...): `{"name": value}`;
  an unknown name or a value of another kind answers 400 (`options`), null sets the default
- `GET /_sandbox/health`
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import os
import shutil
import tempfile
import threading
import time
import typing as t
from collections import deque
from urllib.parse import urlencode

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from tap_branch_sandbox import file_faults, profiles
from tap_branch_sandbox.options import set_options

Handler = t.Callable[..., Response]
_TRANSPORT_FAULTS = frozenset({"status", "rate_limit", "reset", "truncate", "slow", "expire"})
FileProducer = t.Callable[[str], "FileSource | None"]


@dataclasses.dataclass
class SandboxApp:
    app_id: str
    branch_key: str
    branch_secret: str


@dataclasses.dataclass
class SandboxConfig:
    seed: int = 42
    branch_key: str = "key_live_sandbox"
    branch_secret: str = "secret_live_sandbox"
    access_token: str = "api_app_sandbox"
    app_id: str = "sandbox-app"
    organization_id: str = "sandbox-org"
    #: Extra apps beyond the default one.
    extra_apps: list[SandboxApp] = dataclasses.field(default_factory=list)
    #: The sandbox's "today" (UTC). None: the real date.
    today: dt.date | None = None
    #: Lifetime of signed file URLs, in seconds.
    url_ttl: int = 3600
    #: How fast sandbox time runs for rate-limit windows and job latencies (60: a minute a second).
    time_scale: float = 1.0
    #: Send Retry-After on 429s (Branch sometimes does, sometimes only says it in the body).
    retry_after_header: bool = False
    #: Enforce the documented rate limits.
    rate_limits: bool = True
    #: Family options (volumes, latencies, ...), settable by flag or control endpoint.
    options: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    #: Which products the account has (`profiles`): "all-products", "no-scheduled-exports", ...
    profile: str = profiles.DEFAULT

    @property
    def apps(self) -> list[SandboxApp]:
        return [SandboxApp(self.app_id, self.branch_key, self.branch_secret), *self.extra_apps]


@dataclasses.dataclass
class FileSource:
    """A file the file host can serve: `ready` False answers 400 (not complete yet)."""

    produce: t.Callable[[], t.Iterable[bytes]]
    ready: bool = True
    content_type: str = "application/gzip"


class FaultInjector:
    """Scripted faults, matched against each request in order.

    A rule: `kind` (status | rate_limit | reset | truncate | slow | expire, or a
    file fault of `file_faults`: wrong_body | header | corrupt_line | drip),
    `path` (substring of the request path; default any), `method`, `after`
    (matching requests let through first; default 0), `times` (how many requests
    it hits; default 1, -1 forever), `status`, `body`
    (for status: the JSON answered, `{}` and `null` included; or `text`: a body sent as it
    is, as `content_type`, default text/html: a proxy's error page), `delay` (seconds, for slow),
    `retry_after` (seconds, for rate_limit; `header`: true sends it as Retry-After,
    a string sends that string verbatim, false none; `body_hint: false` leaves
    "retry after N seconds" out of the body).
    """

    def __init__(self) -> None:
        self._rules: list[dict] = []
        self._lock = threading.Lock()

    def add(self, rule: dict) -> None:
        if rule.get("kind") not in _TRANSPORT_FAULTS | file_faults.KINDS:
            raise ValueError(f"unknown fault kind {rule.get('kind')!r}")
        if rule["kind"] in file_faults.KINDS:
            file_faults.check_rule(rule)
        with self._lock:
            self._rules.append({"times": 1, "after": 0, **rule})

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def take(self, request: Request) -> dict | None:
        with self._lock:
            for rule in self._rules:
                if rule.get("path", "") not in request.path:
                    continue
                if rule.get("method") and rule["method"].upper() != request.method:
                    continue
                if rule["times"] == 0:
                    continue
                if rule["after"] > 0:
                    rule["after"] -= 1
                    continue
                if rule["times"] > 0:
                    rule["times"] -= 1
                return dict(rule)
        return None


class SlidingWindowLimiter:
    """Several (limit, window seconds) windows at once, in sandbox time."""

    def __init__(
        self, windows: t.Sequence[tuple[int, float]], clock: t.Callable[[], float]
    ) -> None:
        self.windows = list(windows)
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Record a request; None if allowed, else the sandbox seconds until it would be."""
        now = self.clock()
        longest = max(window for _, window in self.windows)
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - longest:
                hits.popleft()
            wait = 0.0
            for limit, window in self.windows:
                recent = [h for h in hits if h > now - window]
                if len(recent) >= limit:
                    wait = max(wait, recent[-limit] + window - now)
            if wait > 0:
                return wait
            hits.append(now)
            return None


class Sandbox:
    """The WSGI application."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        profiles.check_profile(self.config.profile)
        # The options given are checked as those set later are (a null one: its default).
        set_options(self.config.options, dict(self.config.options))
        self.url_map = Map(strict_slashes=False)
        self.handlers: dict[str, Handler] = {}
        self.file_producers: dict[str, FileProducer] = {}
        self.faults = FaultInjector()
        self.request_log: list[dict] = []
        self._log_lock = threading.Lock()
        self._day_offset = 0
        self._expired_before = 0.0
        self._signing_key = hashlib.sha256(f"sandbox-{self.config.seed}".encode()).digest()
        self._started = time.monotonic()
        self._limiters: dict[tuple, SlidingWindowLimiter] = {}
        self.cache_dir = tempfile.mkdtemp(prefix="tap-branch-sandbox-")
        self._cache_locks: dict[str, threading.Lock] = {}
        self._cache_guard = threading.Lock()
        self.state: dict[str, t.Any] = {}  # per-family mutable state (jobs, ...)
        self._add_control_routes()
        self.add_route("/files/<path:key>", self._serve_file, methods=["GET"])
        from tap_branch_sandbox.families import FAMILIES

        for family in FAMILIES:
            family.register(self)

    # --- registration -------------------------------------------------------

    def add_route(self, rule: str, handler: Handler, methods: t.Sequence[str] = ("GET",)) -> None:
        endpoint = f"{handler.__module__}.{getattr(handler, '__qualname__', handler)}:{rule}"
        self.url_map.add(Rule(rule, endpoint=endpoint, methods=list(methods)))
        self.handlers[endpoint] = handler

    def add_file_producer(self, prefix: str, producer: FileProducer) -> None:
        """Files whose key starts with `prefix` come from `producer(key)` (None: 404)."""
        self.file_producers[prefix] = producer

    def option(self, name: str, default: t.Any = None) -> t.Any:
        return self.config.options.get(name, default)

    # --- clock --------------------------------------------------------------

    def today(self) -> dt.date:
        base = self.config.today or dt.datetime.now(dt.timezone.utc).date()
        return base + dt.timedelta(days=self._day_offset)

    def yesterday(self) -> dt.date:
        return self.today() - dt.timedelta(days=1)

    def scaled_seconds(self) -> float:
        """Sandbox seconds since start: real seconds times `time_scale`."""
        return (time.monotonic() - self._started) * self.config.time_scale

    # --- credentials --------------------------------------------------------

    def app_for_key(
        self, branch_key: str | None, branch_secret: str | None, *, need_secret: bool = True
    ) -> SandboxApp | None:
        for app in self.config.apps:
            if branch_key == app.branch_key and (
                not need_secret or branch_secret == app.branch_secret
            ):
                return app
        return None

    def token_ok(self, request: Request) -> bool:
        token = request.headers.get("Access-Token") or request.headers.get("access-token")
        return token == self.config.access_token

    def app_ids(self) -> list[str]:
        return [app.app_id for app in self.config.apps]

    @staticmethod
    def auth_failed() -> Response:
        return json_response({"error": {"message": "Authentication failed !", "code": 400}}, 400)

    # --- rate limits --------------------------------------------------------

    def rate_limited(
        self, name: str, key: str, windows: t.Sequence[tuple[int, float]]
    ) -> Response | None:
        """Count a request against `name`'s windows; a Branch-style 429 when over."""
        if not self.config.rate_limits:
            return None
        # Keyed by the windows too: an option changed after the first request applies (afresh).
        key = (name, tuple((int(limit), float(seconds)) for limit, seconds in windows))
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._limiters.setdefault(
                key, SlidingWindowLimiter(windows, self.scaled_seconds)
            )
        wait = limiter.hit(key)
        if wait is None:
            return None
        self.state.setdefault("rate_limited", {}).setdefault(name, 0)
        self.state["rate_limited"][name] += 1
        return self.too_many_requests(key, wait / self.config.time_scale)

    def too_many_requests(
        self, key: str, wait_real_seconds: float, *, hint_in_body: bool = True
    ) -> Response:
        seconds = max(1, int(wait_real_seconds + 0.999))
        message = f"Limit is exceeded for org-{key}"
        if hint_in_body:
            message += f", retry after {seconds} seconds"
        body = {"errors": [{"message": message, "error_code": 7}]}
        response = json_response(body, 429)
        if self.config.retry_after_header:
            response.headers["Retry-After"] = str(seconds)
        return response

    # --- signed file URLs ---------------------------------------------------

    def signed_url(self, request: Request, key: str, ttl: int | None = None) -> str:
        """An S3-style pre-signed URL for `/files/<key>` on this server."""
        issued = time.time()
        ttl = self.config.url_ttl if ttl is None else ttl
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(issued))
        params = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"SANDBOXACCESSKEY/{amz_date[:8]}/us-west-1/s3/aws4_request",
            "X-Amz-Date": amz_date,
            "X-Amz-Expires": str(ttl),
            "X-Amz-SignedHeaders": "host",
            "X-Amz-Issued": f"{issued:.6f}",
        }
        params["X-Amz-Signature"] = self._signature(key, params)
        return f"{request.host_url}files/{key}?{urlencode(params)}"

    def _signature(self, key: str, params: t.Mapping[str, str]) -> str:
        message = "\n".join(
            [key, params["X-Amz-Date"], params["X-Amz-Expires"], params["X-Amz-Issued"]]
        )
        return hmac.new(self._signing_key, message.encode(), hashlib.sha256).hexdigest()

    def _check_signature(self, request: Request, key: str) -> Response | None:
        args = request.args
        try:
            expected = self._signature(key, args)
            issued = float(args["X-Amz-Issued"])
            ttl = float(args["X-Amz-Expires"])
        except (KeyError, ValueError):
            return s3_error(
                "AccessDenied",
                "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters",
            )
        if not hmac.compare_digest(expected, args.get("X-Amz-Signature", "")):
            return s3_error(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        if time.time() > issued + ttl or issued <= self._expired_before:
            return s3_error("AccessDenied", "Request has expired")
        return None

    def _serve_file(self, request: Request, key: str, fault: dict | None = None) -> Response:
        denied = self._check_signature(request, key)
        if denied is not None:
            return denied
        if fault and fault["kind"] == "expire":
            return s3_error("AccessDenied", "Request has expired")
        source = None
        for prefix, producer in self.file_producers.items():
            if key.startswith(prefix):
                source = producer(key)
                break
        if source is None:
            return s3_error("NoSuchKey", "The specified key does not exist.", 404)
        if not source.ready:
            return s3_error("InvalidRequest", "The export for this day is not complete yet.", 400)
        path = self._cached(key, source)
        if fault and fault["kind"] in file_faults.REWRITES:
            with open(path, "rb") as handle:
                body, content_type = file_faults.rewritten(
                    fault, handle.read(), source.content_type
                )
            return Response(
                body, headers={"Content-Length": str(len(body))}, content_type=content_type
            )
        size = os.path.getsize(path)
        if fault and fault["kind"] in file_faults.PACED:
            return Response(
                file_faults.dripped(fault, path),
                headers={"Content-Length": str(size)},
                content_type=source.content_type,
                direct_passthrough=True,
            )
        cut = None
        if fault and fault["kind"] in ("reset", "truncate"):
            cut = max(1, int(size * float(fault.get("fraction", 0.5))))
        if fault and fault["kind"] == "truncate":
            return Response(
                _read_file(path, limit=cut),
                headers={"Content-Length": str(cut)},
                content_type=source.content_type,
                direct_passthrough=True,
            )
        body = _read_file(path, limit=cut, reset_after=cut is not None)
        return Response(
            body,
            headers={"Content-Length": str(size)},
            content_type=source.content_type,
            direct_passthrough=True,
        )

    def _cached(self, key: str, source: FileSource) -> str:
        """Materialise a file once on disk, so it has a length and is served byte-identical."""
        path = os.path.join(self.cache_dir, hashlib.sha256(key.encode()).hexdigest())
        with self._cache_guard:
            lock = self._cache_locks.setdefault(key, threading.Lock())
        with lock:
            if not os.path.exists(path):
                partial = path + ".part"
                with open(partial, "wb") as out:
                    for chunk in source.produce():
                        out.write(chunk)
                os.replace(partial, path)
        return path

    # --- WSGI ---------------------------------------------------------------

    def __call__(self, environ: dict, start_response: t.Callable) -> t.Iterable[bytes]:
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        fault = None if request.path.startswith("/_sandbox/") else self.faults.take(request)
        try:
            endpoint, values = adapter.match()
            if fault and fault["kind"] == "slow":
                time.sleep(float(fault.get("delay", 1.0)))
            if fault and fault["kind"] == "status" and "text" in fault:
                response = Response(
                    fault["text"],
                    status=int(fault.get("status", 503)),
                    content_type=fault.get("content_type", "text/html"),
                )
            elif fault and fault["kind"] == "status":
                response = json_response(
                    fault["body"]
                    if "body" in fault
                    else {"error": {"message": "Injected fault", "code": fault.get("status", 503)}},
                    int(fault.get("status", 503)),
                )
            elif fault and fault["kind"] == "rate_limit":
                response = self.too_many_requests(
                    "sandbox-org",
                    float(fault.get("retry_after", 1)),
                    hint_in_body=fault.get("body_hint", True),
                )
                if isinstance(fault.get("header"), str):  # verbatim, e.g. "soon"
                    response.headers["Retry-After"] = fault["header"]
                elif fault.get("header") is not None:
                    if fault["header"]:
                        response.headers["Retry-After"] = str(
                            max(1, int(float(fault.get("retry_after", 1))))
                        )
                    else:
                        response.headers.pop("Retry-After", None)
            elif refused := profiles.refusal(self.config.profile, request):
                response = json_response(refused[1], refused[0])
            else:
                handler = self.handlers[endpoint]
                if handler == self._serve_file:
                    response = handler(request, fault=fault, **values)
                else:
                    response = handler(request, **values)
                    if fault and fault["kind"] in ("reset", "truncate"):
                        response = _cut_response(response, fault)
        except HTTPException as exc:
            response = exc.get_response()
            if isinstance(exc, NotFound):
                response = json_response(
                    {"error": {"message": f"Not found: {request.path}", "code": 404}}, 404
                )
        with self._log_lock:
            self.request_log.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "fault": fault["kind"] if fault else None,
                    "time": time.time(),
                }
            )
        return response

    # --- control ------------------------------------------------------------

    def _add_control_routes(self) -> None:
        self.add_route(
            "/_sandbox/health",
            lambda request: json_response({"ok": True, "today": self.today().isoformat()}),
        )
        self.add_route("/_sandbox/faults", self._control_faults, methods=["POST", "DELETE"])
        self.add_route("/_sandbox/clock", self._control_clock, methods=["POST", "GET"])
        self.add_route("/_sandbox/expire-urls", self._control_expire, methods=["POST"])
        self.add_route("/_sandbox/requests", self._control_requests, methods=["GET", "DELETE"])
        self.add_route("/_sandbox/options", self._control_options, methods=["POST", "GET"])
        self.add_route("/_sandbox/state", lambda request: json_response(_jsonable(self.state)))

    def _control_faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.faults.clear()
            return json_response({"ok": True})
        body = request.get_json(force=True)
        rules = body.get("rules", [body]) if isinstance(body, dict) else body
        try:
            for rule in rules:
                self.faults.add(rule)
        except ValueError as exc:
            return json_response({"error": {"message": str(exc), "code": 400}}, 400)
        return json_response({"ok": True, "added": len(rules)})

    def _control_clock(self, request: Request) -> Response:
        if request.method == "POST":
            body = request.get_json(force=True) or {}
            if "today" in body:
                self.config.today = dt.date.fromisoformat(body["today"])
                self._day_offset = 0
            self._day_offset += int(body.get("advance_days", 0))
        return json_response({"today": self.today().isoformat()})

    def _control_expire(self, request: Request) -> Response:
        self.expire_signed_urls()
        return json_response({"ok": True})

    def expire_signed_urls(self) -> None:
        """Every signed URL issued so far answers 403 from now on (like S3 after X-Amz-Expires)."""
        self._expired_before = time.time()

    def _control_requests(self, request: Request) -> Response:
        with self._log_lock:
            if request.method == "DELETE":
                self.request_log.clear()
                return json_response({"ok": True})
            return json_response(list(self.request_log))

    def _control_options(self, request: Request) -> Response:
        if request.method == "POST":
            given = request.get_json(force=True)
            if not isinstance(given, dict):
                return _bad_control("options are set by a JSON object {name: value}")
            try:
                set_options(self.config.options, given)
            except ValueError as exc:
                return _bad_control(str(exc))
        return json_response(_jsonable(self.config.options))

    def close(self) -> None:
        shutil.rmtree(self.cache_dir, ignore_errors=True)


# --- helpers -----------------------------------------------------------------


def json_response(body: t.Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _bad_control(message: str) -> Response:
    """A control request refused, in Branch's error shape (as `_control_faults` answers)."""
    return json_response({"error": {"message": message, "code": 400}}, 400)


def s3_error(code: str, message: str, status: int = 403) -> Response:
    xml = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return Response(xml, status=status, content_type="application/xml")


class _ConnectionReset(Exception):
    """Raised mid-body so the server drops the connection, like a reset."""


def _read_file(
    path: str, *, limit: int | None = None, reset_after: bool = False
) -> t.Iterator[bytes]:
    sent = 0
    with open(path, "rb") as handle:
        while True:
            want = 1 << 16
            if limit is not None:
                want = min(want, limit - sent)
                if want <= 0:
                    break
            chunk = handle.read(want)
            if not chunk:
                break
            sent += len(chunk)
            yield chunk
    if reset_after:
        raise _ConnectionReset("injected connection reset")


def _cut_response(response: Response, fault: dict) -> Response:
    data = response.get_data()
    cut = max(1, int(len(data) * float(fault.get("fraction", 0.5))))
    if fault["kind"] == "truncate":
        response.set_data(data[:cut])
        return response

    def body() -> t.Iterator[bytes]:
        yield data[:cut]
        raise _ConnectionReset("injected connection reset")

    return Response(
        body(),
        status=response.status_code,
        headers={"Content-Length": str(len(data))},
        content_type=response.content_type,
        direct_passthrough=True,
    )


def _jsonable(value: t.Any) -> t.Any:
    return json.loads(json.dumps(value, default=str))
