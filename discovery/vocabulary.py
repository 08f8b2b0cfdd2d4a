"""Controlled vocabularies shared by data import, lab reports, models and the database.

Lab staff and data sets spell things many ways ("meltspin", "melt spinning", "AM");
these parsers map the accepted spellings to one value and reject everything else with
a message that lists what is accepted.
"""

from __future__ import annotations

import re
from enum import Enum

from vitrify.errors import VitrifyError


class VocabularyError(VitrifyError, ValueError):
    def __init__(self, message: str, *, field: str):
        self.field = field
        self.reason = message
        super().__init__(f"{field}: {message}")


def _key(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", str(text).strip().lower())


class ProcessingRoute(str, Enum):
    """How the alloy was made. Sputtering widens glass-forming ranges relative to melt-spinning."""

    MELT_SPINNING = "melt-spinning"
    SUCTION_CASTING = "suction-casting"
    COPPER_MOULD_CASTING = "copper-mould-casting"
    SPUTTERING = "sputtering"
    OTHER = "other"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, text: str | None, *, field: str = "processing") -> "ProcessingRoute":
        if text is None or (isinstance(text, float) and text != text) or not str(text).strip():
            return cls.UNKNOWN
        found = _ROUTE_SYNONYMS.get(_key(text))
        if found is None:
            accepted = ", ".join(r.value for r in cls)
            raise VocabularyError(f"unknown processing route {text!r}; accepted: {accepted}", field=field)
        return found

    @property
    def model_group(self) -> str:
        """The coarse route the models see: melt-spinning, sputtering, casting or unknown."""
        if self in (ProcessingRoute.SUCTION_CASTING, ProcessingRoute.COPPER_MOULD_CASTING):
            return "casting"
        if self in (ProcessingRoute.OTHER, ProcessingRoute.UNKNOWN):
            return "unknown"
        return self.value


MODEL_ROUTE_GROUPS = ("melt-spinning", "sputtering", "casting", "unknown")

_ROUTE_SYNONYMS = {
    **{_key(r.value): r for r in ProcessingRoute},
    "meltspin": ProcessingRoute.MELT_SPINNING,
    "melt spin": ProcessingRoute.MELT_SPINNING,
    "melt spun": ProcessingRoute.MELT_SPINNING,
    "melt spinning": ProcessingRoute.MELT_SPINNING,
    "ribbon": ProcessingRoute.MELT_SPINNING,
    "sputter": ProcessingRoute.SPUTTERING,
    "sputtered": ProcessingRoute.SPUTTERING,
    "co sputtering": ProcessingRoute.SPUTTERING,
    "suction casting": ProcessingRoute.SUCTION_CASTING,
    "suction cast": ProcessingRoute.SUCTION_CASTING,
    "copper mould casting": ProcessingRoute.COPPER_MOULD_CASTING,
    "copper mold casting": ProcessingRoute.COPPER_MOULD_CASTING,
    "copper mould": ProcessingRoute.COPPER_MOULD_CASTING,
    "copper mold": ProcessingRoute.COPPER_MOULD_CASTING,
    "casting": ProcessingRoute.COPPER_MOULD_CASTING,
    "cast": ProcessingRoute.COPPER_MOULD_CASTING,
    "none": ProcessingRoute.UNKNOWN,
    "": ProcessingRoute.UNKNOWN,
}


class SynthesisResult(str, Enum):
    """What a synthesis attempt produced. ``SYNTHESIS_FAILED`` carries no GFA label."""

    AMORPHOUS = "amorphous"
    PARTIALLY_CRYSTALLINE = "partially crystalline"
    CRYSTALLINE = "crystalline"
    SYNTHESIS_FAILED = "synthesis failed"

    @classmethod
    def parse(cls, text: str, *, field: str = "result") -> "SynthesisResult":
        found = _RESULT_SYNONYMS.get(_key(text)) if text is not None else None
        if found is None:
            accepted = ", ".join(r.value for r in cls)
            raise VocabularyError(f"unknown result {text!r}; accepted: {accepted}", field=field)
        return found

    @property
    def glass_label(self) -> int | None:
        """1 = formed a (fully) glassy sample, 0 = did not, None = no information.

        Partially crystalline counts as 0, as in Sun 2017 and the Landolt data (AC -> 0):
        the question is whether a monolithic glass forms.
        """
        return {
            SynthesisResult.AMORPHOUS: 1,
            SynthesisResult.PARTIALLY_CRYSTALLINE: 0,
            SynthesisResult.CRYSTALLINE: 0,
            SynthesisResult.SYNTHESIS_FAILED: None,
        }[self]

    @classmethod
    def from_label(cls, gfa: int) -> "SynthesisResult":
        return cls.AMORPHOUS if int(gfa) == 1 else cls.CRYSTALLINE


_RESULT_SYNONYMS = {
    **{_key(r.value): r for r in SynthesisResult},
    "am": SynthesisResult.AMORPHOUS,
    "glass": SynthesisResult.AMORPHOUS,
    "glassy": SynthesisResult.AMORPHOUS,
    "ac": SynthesisResult.PARTIALLY_CRYSTALLINE,
    "partial": SynthesisResult.PARTIALLY_CRYSTALLINE,
    "partially amorphous": SynthesisResult.PARTIALLY_CRYSTALLINE,
    "cr": SynthesisResult.CRYSTALLINE,
    "crystal": SynthesisResult.CRYSTALLINE,
    "failed": SynthesisResult.SYNTHESIS_FAILED,
    "failure": SynthesisResult.SYNTHESIS_FAILED,
}
