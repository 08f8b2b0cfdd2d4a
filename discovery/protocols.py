"""The interfaces the layers above rely on, named (structural typing: nothing has to inherit).

A campaign proposes with any :class:`GlassFormingScorer` (the fitted
:class:`discovery.models.GlassFormingModel`, or agents.proposer.CampaignCorrectedModel
wrapping one), retrains any :class:`GlassFormingLearner`, and reads properties from any
:class:`PropertyPredictor` (the modulus and bulk-GFA ensembles of discovery.regressors).
Workers (agents.workers) have their own protocol.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # annotations only: no import cost, no circle
    from discovery.composition import CompositionMatrix
    from discovery.dataset import LabelledSet
    from discovery.models import Scores
    from discovery.properties import Prediction


@runtime_checkable
class GlassFormingScorer(Protocol):
    """Scores compositions made by a route: P_GFA, P(glass) with its spread, properties."""

    def score(self, matrix: "CompositionMatrix", routes="unknown") -> "Scores": ...


@runtime_checkable
class GlassFormingLearner(GlassFormingScorer, Protocol):
    """A GFA model that learns from labelled outcomes and reports its hyperparameters."""

    kind: str

    def fit(self, data: "LabelledSet") -> "GlassFormingLearner": ...

    def get_params(self, deep: bool = True) -> dict: ...


@runtime_checkable
class PropertyPredictor(Protocol):
    """A property model: every property it knows as a mean, spread and members."""

    def predict_properties(self, matrix: "CompositionMatrix", *, base=None,
                           stats=None) -> "dict[str, Prediction]": ...
