"""`tap-branch-airbyte`: the Airbyte source's command line (the image's entrypoint).

    tap-branch-airbyte spec
    tap-branch-airbyte check --config config.json
    tap-branch-airbyte discover --config config.json
    tap-branch-airbyte read --config config.json --catalog configured_catalog.json [--state state.json]

Everything goes to stdout as Airbyte messages, logs included. An error ends
with a TRACE error message (config_error for what the user gave, a wrong command
line included; system_error otherwise), naming the stream when one stream of a
read failed, and exit status 1; secrets never appear in it.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
import typing as t

from airbyte_protocol.models import (
    AirbyteErrorTraceMessage,
    AirbyteMessage,
    AirbyteTraceMessage,
    FailureType,
    StreamDescriptor,
    TraceType,
    Type,
)
from singer_sdk.exceptions import ConfigValidationError

from tap_branch.airbyte import source
from tap_branch.airbyte.inputs import InputError
from tap_branch.airbyte.messages import LogHandler, now_ms, write
from tap_branch.errors import (
    InvalidCatalogError,
    InvalidStateError,
    RequestRejected,
    StopRequested,
    refuses_credentials,
)
from tap_branch.redaction import install_log_redaction, redact

#: What the user gave wrong: a config_error, not a failure of the source.
CONFIG_ERRORS = (InputError, ConfigValidationError, InvalidStateError, InvalidCatalogError)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> t.NoReturn:
        """A wrong command line is the caller's config error, said as a TRACE like the rest."""
        raise InputError(f"{self.prog}: {message} ({' '.join(self.format_usage().split())})")


def parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tap-branch-airbyte", description="tap-branch as an Airbyte source.")
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
    _log_as_airbyte_messages()
    try:
        args = parser().parse_args(argv)
        if args.command == "spec":
            source.spec()
        elif args.command == "check":
            source.check(args.config)
        elif args.command == "discover":
            source.discover(args.config)
        else:
            source.read(args.config, args.catalog, args.state)
    except source.StreamFailed as failed:
        _fail(t.cast(BaseException, failed.__cause__), failed.stream)
    except (Exception, StopRequested) as exc:  # noqa: BLE001 - every end but success: a TRACE
        _fail(exc, None)


def _fail(exc: BaseException, stream: str | None) -> t.NoReturn:
    failure = FailureType.config_error if _users_to_fix(exc) else FailureType.system_error
    _trace_error(exc, failure, stream)
    sys.exit(1)


def _users_to_fix(exc: BaseException) -> bool:
    """What the user gave wrong, a credential Branch refused during a read included (a stream
    without a connection probe, or a token revoked since the last run)."""
    if isinstance(exc, RequestRejected):
        return refuses_credentials(exc.status, exc.detail)
    return isinstance(exc, CONFIG_ERRORS)


def _log_as_airbyte_messages() -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(LogHandler())
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    install_log_redaction()


def _trace_error(exc: BaseException, failure_type: FailureType, stream: str | None) -> None:
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
                    stream_descriptor=StreamDescriptor(name=stream) if stream else None,
                ),
            ),
        )
    )


if __name__ == "__main__":
    main()
