"""Start the sandbox on a port, in this process (tests) or as the CLI's foreground server."""

from __future__ import annotations

import threading
import typing as t

from werkzeug.serving import BaseWSGIServer, make_server

from tap_branch.sandbox.server import Sandbox, SandboxConfig


class RunningSandbox:
    """A sandbox serving on a background thread; `url` is its base URL."""

    def __init__(self, sandbox: Sandbox, server: BaseWSGIServer) -> None:
        self.sandbox = sandbox
        self.server = server
        self.url = f"http://{server.host}:{server.port}"
        self._thread = threading.Thread(target=server.serve_forever, name="tap-branch-sandbox", daemon=True)

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


def serve_in_thread(config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> RunningSandbox:
    sandbox = Sandbox(config)
    server = make_server(host, port, sandbox, threaded=True)
    return RunningSandbox(sandbox, server).start()
