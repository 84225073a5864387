"""`tap-branch-sandbox`: run the local Branch sandbox in the foreground."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import logging
import signal
import sys
import typing as t

from tap_branch_sandbox.options import OPTIONS, check_option
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


@dataclasses.dataclass(frozen=True)
class Flag:
    """One command-line flag: its name, what it does, and argparse's other keywords
    (`default`, `type`, `action`, ...). `--help` and `option_tables` read the same list."""

    name: str
    help: str
    keywords: dict[str, t.Any] = dataclasses.field(default_factory=dict)


_DEFAULTS = SandboxConfig()
FLAGS = (
    Flag("--host", "the address to listen on", {"default": "127.0.0.1"}),
    Flag("--port", "the port to listen on (0: a free one)", {"type": int, "default": 8787}),
    Flag("--seed", "the seed of the synthetic data", {"type": int, "default": _DEFAULTS.seed}),
    Flag("--branch-key", "the app's Branch key", {"default": _DEFAULTS.branch_key}),
    Flag("--branch-secret", "the app's Branch secret", {"default": _DEFAULTS.branch_secret}),
    Flag("--access-token", "the API access token", {"default": _DEFAULTS.access_token}),
    Flag("--app-id", "the app's id", {"default": _DEFAULTS.app_id}),
    Flag("--organization-id", "the organization's id", {"default": _DEFAULTS.organization_id}),
    Flag(
        "--app",
        "an extra app, app_id:branch_key:branch_secret (repeatable)",
        {"type": _app, "action": "append", "default": [], "metavar": "ID:KEY:SECRET"},
    ),
    Flag(
        "--today",
        "the sandbox's UTC date; None: the real one",
        {"type": dt.date.fromisoformat, "default": None, "metavar": "YYYY-MM-DD"},
    ),
    Flag(
        "--url-ttl",
        "signed URL lifetime in seconds",
        {"type": int, "default": _DEFAULTS.url_ttl},
    ),
    Flag(
        "--time-scale",
        "sandbox seconds per real second (rate-limit windows, job latencies)",
        {"type": float, "default": _DEFAULTS.time_scale},
    ),
    Flag(
        "--retry-after-header",
        "send Retry-After on 429s (else only in the body)",
        {"action": "store_true"},
    ),
    Flag("--no-rate-limits", "do not enforce the documented rate limits", {"action": "store_true"}),
    Flag(
        "--option",
        "a family option, name=value (JSON values allowed; repeatable; see below)",
        {"type": _option, "action": "append", "default": [], "metavar": "NAME=VALUE"},
    ),
    Flag(
        "--fault",
        'a fault rule as JSON, e.g. {"kind": "status", "status": 503, "path": "/v1/export"} '
        "(repeatable)",
        {"type": _fault, "action": "append", "default": [], "metavar": "JSON"},
    ),
    Flag(
        "--profile",
        "the account's products, one of: " + ", ".join(PROFILES),
        {"choices": PROFILES, "default": _DEFAULTS.profile, "metavar": "NAME"},
    ),
    Flag("--quiet", "do not log each request", {"action": "store_true"}),
)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Each flag's default after its help; the family options' list kept as written."""


def _family_options_help() -> str:
    lines = [
        'family options (--option name=value, or POST /_sandbox/options {"name": value}; '
        "null sets the default back):"
    ]
    for name, option in OPTIONS.items():
        lines.append(f"  {name}: {option.kind.name} (default: {_json(option.default)})")
        lines.append(f"      {option.help}")
    return "\n".join(lines)


def _json(value: t.Any) -> str:
    return "unset" if value is None else json.dumps(value)


def parser() -> argparse.ArgumentParser:
    made = argparse.ArgumentParser(
        prog="tap-branch-sandbox",
        description="A local server that behaves like Branch's APIs.",
        formatter_class=_HelpFormatter,
        epilog=_family_options_help(),
    )
    for flag in FLAGS:
        made.add_argument(flag.name, help=flag.help, **flag.keywords)
    return made


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return parser().parse_args(argv)


def option_tables() -> str:
    """docs/sandbox.md's tables of every flag and family option with its default, from the
    declarations `--help` shows (a test compares the page with it)."""
    lines = [
        "| Flag | Default | What it does |",
        "|:--|:--|:--|",
        *(
            f"| `{flag.name}` | `{flag.keywords.get('default', False)}` | {_cell(flag.help)} |"
            for flag in FLAGS
        ),
        "",
        "Family options (`--option name=value`, or `POST /_sandbox/options` with "
        '`{"name": value}`; `null` sets the default back):',
        "",
        "| Option | Takes | Default | What it does |",
        "|:--|:--|:--|:--|",
        *(
            f"| `{name}` | {_cell(option.kind.name)} | `{_json(option.default)}` | "
            f"{_cell(option.help)} |"
            for name, option in OPTIONS.items()
        ),
    ]
    return BEGIN + "\n".join(lines) + "\n" + END


#: The lines around `option_tables()` in docs/sandbox.md (as `scripts/sync_settings.py` marks its own).
BEGIN = "<!-- BEGIN generated sandbox options (tap-branch-sandbox --help) -->\n"
END = "<!-- END generated sandbox options -->\n"


def _cell(text: str) -> str:
    """Text in a Markdown table cell: a pipe would end the cell, `<x>` would read as HTML
    and a `{...}` ending the cell as attributes (attr_list)."""
    for char, escaped in (("|", "\\|"), ("<", "&lt;"), ("{", "\\{"), ("}", "\\}")):
        text = text.replace(char, escaped)
    return text


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
