"""Short write transactions that either commit whole or are retried: every lab channel writes
through :func:`run_write` (serialised on SQLite with ``BEGIN IMMEDIATE``, retried when a
concurrent writer wins a race on PostgreSQL), and reads through :func:`read`."""

from __future__ import annotations

import secrets
import time
from typing import Callable, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlmodel import Session

from db.errors import IngestError, LabError, RowError

T = TypeVar("T")


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    if isinstance(exc, OperationalError):
        text_ = str(exc).lower()
        return "locked" in text_ or "busy" in text_ or "deadlock" in text_ or "could not serialize" in text_
    if isinstance(exc, DBAPIError):
        code = getattr(getattr(exc, "orig", None), "sqlstate", None)
        return code in ("40001", "40P01")
    return False



def run_write(engine: Engine, work: Callable[[Session], T], *, attempts: int = 5) -> T:
    """Run ``work(session)`` in one write transaction and commit it; roll back on any error.

    SQLite: ``BEGIN IMMEDIATE`` takes the write lock first (waiting up to the busy timeout), so
    checks and writes see the same data. PostgreSQL: a unique-constraint race (two reports of
    one job, two new rows for one composition) is retried; the retry re-runs every check and
    so refuses the loser with a clear conflict instead of a database error.
    """
    for attempt in range(attempts):
        session = Session(engine, expire_on_commit=False)
        try:
            if engine.dialect.name == "sqlite":
                session.connection().exec_driver_sql("BEGIN IMMEDIATE")
            result = work(session)
            session.commit()
            return result
        except (IngestError, LabError):
            session.rollback()
            raise
        except Exception as exc:
            session.rollback()
            if not _is_retryable(exc) or attempt == attempts - 1:
                if _is_retryable(exc):
                    raise IngestError([RowError(None, "report", "a concurrent write kept conflicting with this one; try again", "conflict")]) from exc
                raise
            time.sleep(0.02 * (attempt + 1) + secrets.randbelow(20) / 1000)
        finally:
            session.close()
    raise AssertionError("unreachable")



def read(engine: Engine, work: Callable[[Session], T]) -> T:
    with Session(engine, expire_on_commit=False) as session:
        return work(session)
