"""Start the sandbox on a port, in this process (tests) or as the CLI's foreground server."""

from __future__ import annotations

import re
import threading
import typing as t

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from tap_branch_sandbox.server import Sandbox, SandboxConfig

#: Query parameters of Branch's APIs and of the signed file URLs that carry credentials.
_CREDENTIAL_PAIR = re.compile(
    r"(?i)\b(branch_secret|user_id|access_token|x-amz-signature|x-amz-credential)=[^&\s\"]*"
)


def redact_line(text: str, secrets: t.Iterable[str]) -> str:
    """`text` without the sandbox's own secrets or any credential-carrying query value."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "REDACTED")
    return _CREDENTIAL_PAIR.sub(lambda m: f"{m.group(1)}=REDACTED", text)


class RedactingRequestHandler(WSGIRequestHandler):
    """werkzeug's request handler, with credentials taken out of its log lines.

    werkzeug logs every request line with its query string: the daily export's
    `branch_secret` and the signed URLs' `X-Amz-Signature`/`X-Amz-Credential`
    would end up in the sandbox's output (a CI log, a test report).
    """

    def log(self, type: str, message: str, *args: t.Any) -> None:
        try:
            text = message % args if args else message
        except (TypeError, ValueError):
            text = " ".join([message, *map(str, args)])
        config = self.server.app.config  # type: ignore[attr-defined]
        secrets = [config.branch_secret, config.access_token]
        secrets += [app.branch_secret for app in config.extra_apps]
        super().log(type, "%s", redact_line(text, secrets))


def make_sandbox_server(sandbox: Sandbox, host: str, port: int) -> BaseWSGIServer:
    return make_server(host, port, sandbox, threaded=True, request_handler=RedactingRequestHandler)


class RunningSandbox:
    """A sandbox serving on a background thread; `url` is its base URL."""

    def __init__(self, sandbox: Sandbox, server: BaseWSGIServer) -> None:
        self.sandbox = sandbox
        self.server = server
        self.url = f"http://{server.host}:{server.port}"
        # A short poll interval: `stop()` waits for the serving loop to notice, once per test.
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="tap-branch-sandbox",
            daemon=True,
        )

    def start(self) -> RunningSandbox:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.sandbox.close()

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(self, *exc: t.Any) -> None:
        self.stop()


def serve_in_thread(
    config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> RunningSandbox:
    sandbox = Sandbox(config)
    server = make_sandbox_server(sandbox, host, port)
    return RunningSandbox(sandbox, server).start()
