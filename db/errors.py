"""Errors the database layer raises: every problem named by row and field, nothing written."""

from __future__ import annotations

from dataclasses import dataclass

from vitrify.errors import VitrifyError


@dataclass(frozen=True)
class RowError:
    row: int | None  # 1-based data row (header excluded); None for single reports
    field: str
    message: str
    code: str = "invalid"  # invalid | not_found | conflict (already reported, contradiction, race)

    def __str__(self) -> str:
        where = f"row {self.row}, " if self.row is not None else ""
        return f"{where}field '{self.field}': {self.message}"

    def as_dict(self) -> dict:
        return {"row": self.row, "field": self.field, "message": self.message, "code": self.code}



class IngestError(VitrifyError, ValueError):
    """Raised with every problem found; nothing has been written when it is raised."""

    def __init__(self, errors: list[RowError], context: str = ""):
        self.errors = errors
        head = f"{context}: " if context else ""
        lines = "\n".join(f"  {e}" for e in errors[:50])
        more = f"\n  ... and {len(errors) - 50} more" if len(errors) > 50 else ""
        super().__init__(f"{head}{len(errors)} error(s), nothing was written\n{lines}{more}")


class LabError(VitrifyError):
    """A refused lab action (not a validation error): the request conflicts with the state
    of the queue, a job or a campaign. The intake app maps each subclass to its HTTP status."""


class NotFound(LabError):
    """The job, campaign, token, outcome or approval named does not exist."""


class InvalidRequest(LabError, ValueError):
    """The request itself makes no sense (a job of the wrong kind, no subject given)."""


class AuthError(LabError):
    """The request needs an API token it did not bring, or one with a higher role."""


class NotSignedIn(AuthError):
    """No (valid) token was given."""


class NotAllowed(AuthError):
    """The token is valid but its role does not allow this."""
