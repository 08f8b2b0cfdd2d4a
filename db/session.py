"""Engines and sessions, configured from ``VITRIFY_DATABASE_URL`` (see vitrify.settings).

SQLite gets WAL mode, foreign keys and a busy timeout so a campaign, the intake server
and ``vitrify status`` can use one file at the same time.

A database that cannot be used (a malformed URL, a driver we do not ship, a missing
directory, an unreachable server, a corrupt, truncated or read-only SQLite file) raises
:class:`DatabaseUnavailable`, whose message is one line naming the setting or the file and
what to do. A SQLite file is checked *before* anything connects to it, so a corrupt file is
never written to (not even by ``PRAGMA journal_mode=WAL``).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.engine.url import URL
from sqlmodel import Session, create_engine

from vitrify.errors import VitrifyError

SETTING = "VITRIFY_DATABASE_URL"
SUPPORTED = ("sqlite", "postgresql")
EXAMPLE = "e.g. sqlite:////path/to/vitrify.db or postgresql://user:password@host:5432/vitrify"
_SQLITE_MAGIC = b"SQLite format 3\x00"


class DatabaseUnavailable(VitrifyError):
    """The database cannot be opened or used; the message says which setting or file, and what to do.

    ``state`` is a short word for /api/health: misconfigured, missing, corrupt, read-only, unreachable, error.
    """

    def __init__(self, message: str, state: str = "error"):
        super().__init__(message)
        self.state = state


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except Exception:  # sqlalchemy raises ArgumentError, or ValueError for a bad port
        raise DatabaseUnavailable(f"{SETTING} is not a database URL ({_shown(url)}): write it as {EXAMPLE}",
                                  "misconfigured") from None
    if parsed.get_backend_name() not in SUPPORTED:
        raise DatabaseUnavailable(
            f"{SETTING} uses '{parsed.get_backend_name()}', which vitrify does not support: use SQLite or PostgreSQL ({EXAMPLE})",
            "misconfigured")
    driver = parsed.get_driver_name()
    if parsed.get_backend_name() == "postgresql" and driver not in ("psycopg", "psycopg2", "postgresql"):
        if "+" in parsed.drivername and driver != "psycopg":
            raise DatabaseUnavailable(f"{SETTING} asks for the driver '{driver}'; vitrify ships psycopg: "
                                      "write postgresql:// or postgresql+psycopg://", "misconfigured")
    return parsed


def _shown(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return repr(url[:80])


def sqlite_file(url: str | URL) -> Path | None:
    """The file of a SQLite URL (None for in-memory databases and other backends)."""
    parsed = url if isinstance(url, URL) else _parse(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if str(parsed.database).startswith("file:"):
        return None  # URI filenames: left to sqlite
    return Path(parsed.database)


def check_sqlite_file(path: Path, *, write: bool = True) -> None:
    """Refuse a SQLite file that is not one, is truncated, or (``write``) cannot be written.

    Reads the 100-byte header only: cheap enough for every command and every health check.
    """
    if not path.parent.is_dir():
        raise DatabaseUnavailable(f"the database directory {path.parent} does not exist: create it, or point "
                                  f"{SETTING} (or VITRIFY_DATA_DIR) elsewhere", "missing")
    if not path.exists():
        if write and not os.access(path.parent, os.W_OK):
            raise DatabaseUnavailable(f"cannot create the database {path}: the directory is read-only; point "
                                      f"{SETTING} (or VITRIFY_DATA_DIR) at a writable place", "read-only")
        return
    if path.is_dir():
        raise DatabaseUnavailable(f"the database {path} is a directory, not a file: fix {SETTING}", "misconfigured")
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            header = fh.read(100)
    except OSError as exc:
        raise DatabaseUnavailable(f"cannot read the database file {path}: {exc.strerror}", "unreadable") from None
    if size == 0:
        return  # sqlite makes an empty file a database on first use
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        raise DatabaseUnavailable(f"{path} is not a SQLite database (corrupt or another kind of file); nothing was "
                                  f"written to it: restore it from a backup, or point {SETTING} at another file", "corrupt")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    header_valid = header[24:28] == header[92:96]  # change counter == version-valid-for: the page count is current
    if Path(f"{path}-wal").exists():
        header_valid = False  # a checkpoint may be extending the file right now: no size verdict
    if page_size < 512 or page_size & (page_size - 1) or (header_valid and pages and size < pages * page_size):
        raise DatabaseUnavailable(f"the database file {path} is truncated or damaged ({size} bytes); nothing was "
                                  f"written to it: restore it from a backup, or point {SETTING} at another file", "corrupt")
    if write:
        for p in (path, path.parent):
            if not os.access(p, os.W_OK):
                raise DatabaseUnavailable(f"the database file {path} is read-only (no write permission on "
                                          f"{'the file' if p == path else 'its directory'}): make it writable, or point "
                                          f"{SETTING} at a copy", "read-only")


def explain(exc: BaseException, engine_or_url) -> DatabaseUnavailable:
    """A database error a person can act on, as :class:`DatabaseUnavailable` (one line)."""
    if isinstance(exc, DatabaseUnavailable):
        return exc
    url = getattr(engine_or_url, "url", engine_or_url)
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    where = _shown(str(url.render_as_string(hide_password=False)) if isinstance(url, URL) else str(url))
    backend = url.get_backend_name() if isinstance(url, URL) else ""
    low = text.lower()
    if "readonly" in low or "read-only" in low:
        return DatabaseUnavailable(f"the database {where} is read-only: make it writable, or point {SETTING} elsewhere", "read-only")
    if "not a database" in low or "malformed" in low or "corrupt" in low:
        return DatabaseUnavailable(f"the database {where} is corrupt ({text}): restore it from a backup, or point "
                                   f"{SETTING} at another file", "corrupt")
    if "unable to open" in low:
        return DatabaseUnavailable(f"cannot open the database {where}: check that its directory exists and is writable "
                                   f"({SETTING})", "missing")
    if backend == "postgresql":
        if "password" in low or "authentication" in low or "role" in low and "does not exist" in low:
            return DatabaseUnavailable(f"PostgreSQL refused the login of {SETTING} ({where}): {text}", "unreachable")
        if "database" in low and "does not exist" in low:
            return DatabaseUnavailable(f"PostgreSQL has no such database ({where}): create it, or fix {SETTING}", "missing")
        return DatabaseUnavailable(f"cannot reach PostgreSQL at {where} ({SETTING}): is the server running? ({text})",
                                   "unreachable")
    return DatabaseUnavailable(f"the database {where} cannot be used ({SETTING}): {text}", "error")


def database_errors() -> tuple[type[BaseException], ...]:
    """The exceptions :func:`explain` turns into a line (not constraint or data errors: those are bugs or races)."""
    from sqlalchemy.exc import DatabaseError, InterfaceError, OperationalError

    return (OperationalError, InterfaceError, DatabaseError)


def is_unavailable(exc: BaseException) -> bool:
    from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError

    if isinstance(exc, DatabaseUnavailable):
        return True
    return isinstance(exc, database_errors()) and not isinstance(exc, (IntegrityError, DataError, ProgrammingError))


def check_database(engine: Engine, *, write: bool = True) -> None:
    """Raise :class:`DatabaseUnavailable` unless ``engine``'s database answers (and, for a SQLite
    file, is an intact file we may write). Cheap: the header of the file and ``SELECT 1``."""
    path = sqlite_file(engine.url)
    if path is not None:
        check_sqlite_file(path, write=write)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:
        if is_unavailable(exc):
            raise explain(exc, engine) from None
        raise


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    if url is None:
        from vitrify.settings import get_settings

        url = get_settings().sqlalchemy_url
    parsed = _parse(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(parsed)
        if path is not None:
            check_sqlite_file(path, write=False)  # before any connection can touch it
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # pragma: no cover - trivial
            if path is not None:
                check_sqlite_file(path, write=False)  # the file may have been replaced since
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        # psycopg 3 is the driver we ship; accept the plain libpq-style URL too.
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20,
                         connect_args={"connect_timeout": 10})


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A transaction: commit on success, roll back everything on any error."""
    session = Session(engine or get_engine(), expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
