"""`tap-branch-sandbox`: run the local Branch sandbox in the foreground."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import signal
import sys

from tap_branch_sandbox.options import check_option
from tap_branch_sandbox.profiles import PROFILES
from tap_branch_sandbox.runner import make_sandbox_server
from tap_branch_sandbox.server import Sandbox, SandboxApp, SandboxConfig


def _option(text: str) -> tuple[str, object]:
    """`name=value`, the value JSON or else a string, checked like `POST /_sandbox/options`."""
    name, _, text_value = text.partition("=")
    if not name or not _:
        raise argparse.ArgumentTypeError(f"--option takes name=value, got {text!r}")
    try:
        value = json.loads(text_value)
    except json.JSONDecodeError:
        value = text_value
    try:
        check_option(name, value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return name, value


def _app(text: str) -> SandboxApp:
    parts = text.split(":")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(
            f"--app takes app_id:branch_key:branch_secret, got {text!r}"
        )
    return SandboxApp(*parts)


def _fault(text: str) -> dict:
    try:
        rule = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"--fault takes a JSON rule: {exc}") from None
    return rule


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = SandboxConfig()
    parser = argparse.ArgumentParser(
        prog="tap-branch-sandbox", description="A local server that behaves like Branch's APIs."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--branch-key", default=defaults.branch_key)
    parser.add_argument("--branch-secret", default=defaults.branch_secret)
    parser.add_argument("--access-token", default=defaults.access_token)
    parser.add_argument("--app-id", default=defaults.app_id)
    parser.add_argument("--organization-id", default=defaults.organization_id)
    parser.add_argument(
        "--app",
        type=_app,
        action="append",
        default=[],
        help="an extra app: app_id:branch_key:branch_secret",
    )
    parser.add_argument(
        "--today", type=dt.date.fromisoformat, help="the sandbox's UTC date (default: the real one)"
    )
    parser.add_argument(
        "--url-ttl", type=int, default=defaults.url_ttl, help="signed URL lifetime in seconds"
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=defaults.time_scale,
        help="sandbox seconds per real second (rate-limit windows, job latencies)",
    )
    parser.add_argument(
        "--retry-after-header",
        action="store_true",
        help="send Retry-After on 429s (default: only in the body)",
    )
    parser.add_argument(
        "--no-rate-limits", action="store_true", help="do not enforce the documented rate limits"
    )
    parser.add_argument(
        "--option",
        type=_option,
        action="append",
        default=[],
        help="family option name=value (JSON values allowed)",
    )
    parser.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        help='fault rule as JSON, e.g. {"kind": "status", "status": 503, "path": "/v1/export"}',
    )
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default=defaults.profile,
        help="the account's products (tap_branch_sandbox/profiles.py): default all-products",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> SandboxConfig:
    return SandboxConfig(
        seed=args.seed,
        branch_key=args.branch_key,
        branch_secret=args.branch_secret,
        access_token=args.access_token,
        app_id=args.app_id,
        organization_id=args.organization_id,
        extra_apps=args.app,
        today=args.today,
        url_ttl=args.url_ttl,
        time_scale=args.time_scale,
        retry_after_header=args.retry_after_header,
        rate_limits=not args.no_rate_limits,
        options=dict(args.option),
        profile=args.profile,
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sandbox = Sandbox(build_config(args))
    # Its own credentials never appear in its request log (`runner.redact_line`).
    for rule in args.fault:
        sandbox.faults.add(rule)
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_sandbox_server(sandbox, args.host, args.port)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    print(
        f"tap-branch sandbox on http://{args.host}:{server.port} (today {sandbox.today()})",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sandbox.close()


if __name__ == "__main__":
    main()
