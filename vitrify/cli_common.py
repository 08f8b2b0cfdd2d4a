"""What every ``vitrify`` command shares: the consoles, the one way to refuse, the database.

The command modules (vitrify.cli and vitrify.cli_*) import from here and never from each
other's helpers, so the CLI has no import circle: vitrify.cli registers the others.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.text import Text

from vitrify.settings import get_settings

console = Console(markup=False)  # user text (names, notes, compositions) is never Rich markup
err = Console(stderr=True, markup=False, highlight=False)


def _fail(message: str, code: int = 1) -> None:
    """One line on stderr and exit ``code`` (1: a refusal; 2: bad input or an unusable database)."""
    err.print(Text.assemble(("error: ", "bold red"), message))  # never markup: messages quote user input
    raise typer.Exit(code)


def _configured_url() -> str:
    try:
        return get_settings().sqlalchemy_url
    except Exception:
        return "?"


def _engine():
    """The configured database, checked and migrated; a database that cannot be used (bad
    VITRIFY_DATABASE_URL, missing directory, corrupt or read-only file, unreachable server)
    is one line naming the setting or file, and exit code 2."""
    from db.migrate import upgrade
    from db.session import check_database, explain, get_engine, is_unavailable

    try:
        engine = get_engine()
        check_database(engine)
        upgrade(engine)
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        _fail(str(explain(exc, _configured_url())), 2)
    return engine


def _ensure_shipped_data(engine) -> None:
    """Seed the database with the shipped literature table (once per table version)."""
    from db.literature import seed_literature
    from db.session import session_scope

    with session_scope(engine) as session:
        report = seed_literature(session)
    if not report.already_seeded:
        console.print(f"seeded the database with the shipped literature: {report.outcomes} outcomes, "
                      f"{report.measurements} measurements ({report.compositions_created} new compositions)")


def flag_measurements(dmax_mm, tg_k, tx_k, tl_k, youngs_modulus_gpa) -> dict:
    """The measurement flags every report command shares, as {quantity: (value, unit)}."""
    given = {"Dmax": (dmax_mm, "mm"), "Tg": (tg_k, "K"), "Tx": (tx_k, "K"), "Tl": (tl_k, "K"),
             "youngs_modulus": (youngs_modulus_gpa, "GPa")}
    return {k: v for k, v in given.items() if v[0] is not None}
