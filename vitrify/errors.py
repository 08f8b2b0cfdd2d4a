"""The one exception base of vitrify (this module imports nothing of the project).

Every error a user can cause derives from :class:`VitrifyError`, so a shell (the CLI, the
intake app, a notebook) catches one class and prints its message as one line. Each layer
names its own subclasses: ``discovery`` (bad compositions, unknown properties, unusable
data), ``db`` (:class:`db.errors.IngestError`, lab errors), ``agents`` (campaign and
replay errors). Most subclasses also derive from ``ValueError`` where the mistake is a
bad value, so code written against the standard library keeps working.
"""

from __future__ import annotations


class VitrifyError(Exception):
    """Base class of every error vitrify raises on purpose (a message for a person)."""
