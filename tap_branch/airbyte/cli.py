"""`tap-branch-airbyte`: the Airbyte source's command line (the image's entrypoint).

    tap-branch-airbyte spec
    tap-branch-airbyte check --config config.json
    tap-branch-airbyte discover --config config.json
    tap-branch-airbyte read --config config.json --catalog configured_catalog.json [--state state.json]

Everything goes to stdout as Airbyte messages, logs included. An error ends
with a TRACE error message (config_error for what the user gave, system_error
otherwise) and exit status 1; secrets never appear in it.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback

from airbyte_protocol.models import (
    AirbyteErrorTraceMessage,
    AirbyteMessage,
    AirbyteTraceMessage,
    FailureType,
    TraceType,
    Type,
)
from singer_sdk.exceptions import ConfigValidationError

from tap_branch.airbyte import source
from tap_branch.airbyte.inputs import InputError
from tap_branch.airbyte.messages import LogHandler, now_ms, write
from tap_branch.errors import InvalidCatalogError, InvalidStateError
from tap_branch.redaction import install_log_redaction, redact


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tap-branch-airbyte", description="tap-branch as an Airbyte source."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("spec", help="the connection specification")
    for name, text in (("check", "test the credentials"), ("discover", "the catalog")):
        commands.add_parser(name, help=text).add_argument("--config", required=True)
    read = commands.add_parser("read", help="sync the configured streams")
    read.add_argument("--config", required=True)
    read.add_argument("--catalog", required=True)
    read.add_argument("--state")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    _log_as_airbyte_messages()
    try:
        if args.command == "spec":
            source.spec()
        elif args.command == "check":
            source.check(args.config)
        elif args.command == "discover":
            source.discover(args.config)
        else:
            source.read(args.config, args.catalog, args.state)
    except (InputError, ConfigValidationError, InvalidStateError, InvalidCatalogError) as exc:
        _trace_error(exc, FailureType.config_error)
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - every failure ends with a TRACE message
        _trace_error(exc, FailureType.system_error)
        sys.exit(1)


def _log_as_airbyte_messages() -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(LogHandler())
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    install_log_redaction()


def _trace_error(exc: BaseException, failure_type: FailureType) -> None:
    message = source.describe(exc)
    write(
        AirbyteMessage(
            type=Type.TRACE,
            trace=AirbyteTraceMessage(
                type=TraceType.ERROR,
                emitted_at=now_ms(),
                error=AirbyteErrorTraceMessage(
                    message=message,
                    internal_message=f"{type(exc).__name__}: {message}",
                    stack_trace=redact("".join(traceback.format_exception(exc))),
                    failure_type=failure_type,
                ),
            ),
        )
    )


if __name__ == "__main__":
    main()
