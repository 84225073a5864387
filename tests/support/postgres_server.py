"""A throwaway PostgreSQL server for tests, from Debian's `postgresql` package (.ci/run installs it).

`start_postgres()` runs initdb and pg_ctl on a fresh data directory in a temporary directory,
listening on a free loopback port with fsync off (nothing here needs to survive a crash), and
`stop()` shuts it down and removes the directory. PostgreSQL refuses to run as root, so when the
tests run as root the server runs as the `postgres` system user the package creates (or `nobody`).
Clients connect as the superuser `postgres` with no password (trust on loopback only).
`psql()` runs the server's own psql, so the tests need no PostgreSQL driver of their own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import os
import pathlib
import pwd
import shutil
import socket
import subprocess
import tempfile

SUPERUSER = "postgres"


class NoPostgres(Exception):
    """No server can be started here; the message says why."""


def server_binaries() -> pathlib.Path | None:
    """The newest `/usr/lib/postgresql/<version>/bin` with initdb and pg_ctl, or PATH's."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(pathlib.Path(p).parent.parent.name.split(".")[0]),
    )
    if found:
        return pathlib.Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return pathlib.Path(initdb).resolve().parent if initdb else None


def _unprivileged_user() -> pwd.struct_passwd | None:
    """The user to run the server as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise NoPostgres("running as root and there is no 'postgres' or 'nobody' user to run it as")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclasses.dataclass
class PostgresServer:
    bin: pathlib.Path
    home: pathlib.Path
    port: int
    user: pwd.struct_passwd | None
    host: str = "127.0.0.1"

    @property
    def data(self) -> pathlib.Path:
        return self.home / "data"

    @property
    def log(self) -> pathlib.Path:
        return self.home / "server.log"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        user = self.user
        done = subprocess.run(
            args,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
            cwd=self.home,
            env={**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and done.returncode != 0:
            raise NoPostgres(
                f"{pathlib.Path(args[0]).name} failed ({done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-2000:]}{self._log_tail()}"
            )
        return done

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return "\nserver log:\n" + self.log.read_text()[-2000:]
        return ""

    @property
    def dsn(self) -> str:
        return f"host={self.host} port={self.port} user={SUPERUSER} dbname=postgres"

    def target_config(self, schema: str) -> dict:
        """The connection settings of meltanolabs-target-postgres for this server."""
        return {
            "host": self.host,
            "port": self.port,
            "user": SUPERUSER,
            "password": "unused-trust-auth",
            "database": "postgres",
            "default_target_schema": schema,
        }

    def psql(self, sql: str) -> str:
        """Run SQL with the server's psql; the unaligned, tuples-only output."""
        done = subprocess.run(
            [str(self.bin / "psql"), "-X", "-v", "ON_ERROR_STOP=1", "-At", "-d", self.dsn],
            input=sql,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}\nSQL: {sql}")
        return done.stdout

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(
                str(self.bin / "pg_ctl"),
                "stop",
                "-D",
                str(self.data),
                "-m",
                "immediate",
                "-w",
                check=False,
            )
        shutil.rmtree(self.home, ignore_errors=True)


def start_postgres() -> PostgresServer:
    """Init and start a server; raises NoPostgres (saying why) when none can be started."""
    binaries = server_binaries()
    if binaries is None or not (binaries / "pg_ctl").exists():
        raise NoPostgres(
            "no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or on "
            "PATH: install Debian's 'postgresql' package (.ci/run does)"
        )
    user = _unprivileged_user()
    # Not pytest's tmp_path: that is private to root, and the server runs as another user.
    home = pathlib.Path(tempfile.mkdtemp(prefix="tap-branch-pg-"))
    if user:
        os.chown(home, user.pw_uid, user.pw_gid)
    server = PostgresServer(bin=binaries, home=home, port=_free_port(), user=user)
    try:
        server._run(
            str(binaries / "initdb"),
            "-D", str(server.data),
            "-U", SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )  # fmt: skip
        options = (
            f"-F -p {server.port} -c listen_addresses={server.host} "
            f"-k {home} -c timezone=UTC -c max_connections=20"
        )
        server._run(
            str(binaries / "pg_ctl"), "start", "-D", str(server.data), "-w", "-t", "60",
            "-l", str(server.log), "-o", options,
        )  # fmt: skip
    except BaseException:
        server.stop()
        raise
    return server
