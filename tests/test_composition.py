"""Composition parsing and canonical names (pure; no database)."""

import numpy as np
import pytest

from discovery.composition import CompositionError, CompositionMatrix, parse_composition
from discovery.vocabulary import ProcessingRoute, SynthesisResult, VocabularyError


def test_canonical_form_sorts_elements_and_normalizes():
    comp = parse_composition("Cu50Zr45Al5", percent=True)
    assert comp.canonical == "Al5Cu50Zr45"
    assert comp.system == "Al-Cu-Zr"
    assert sum(comp.as_dict().values()) == pytest.approx(1.0, abs=1e-12)
    # the same alloy written three ways is one composition
    assert parse_composition("Zr0.45Cu0.5Al0.05").canonical == comp.canonical
    assert parse_composition("Al1Cu10Zr9").canonical == comp.canonical


@pytest.mark.parametrize(
    "text, fragment",
    [("Xx50Cu50", "unknown element"), ("cu50zr50", "cannot parse"), ("", "empty"), ("Cu50Zr50)", "cannot parse")],
)
def test_bad_formulas_are_rejected_with_the_reason(text, fragment):
    with pytest.raises(CompositionError) as info:
        parse_composition(text, percent=True)
    assert fragment in str(info.value)
    assert info.value.field == "composition"


def test_percent_sum_checked_unless_normalizing():
    with pytest.raises(CompositionError, match="sum to 97"):
        parse_composition("Cu50Zr45Al2", percent=True)
    assert parse_composition("Cu50Zr45Al2", percent=True, normalize=True).at_percent()["Cu"] == pytest.approx(50 / 0.97)
    # within the +/- 0.5 tolerance is accepted (and rescaled)
    assert parse_composition("Cu50Zr45Al5.4", percent=True).n_components == 3


def test_matrix_round_trip():
    m = CompositionMatrix.from_formulas(["Cu50Zr50", "Al10Cu40Zr50", "Zr100"])
    assert m.elements == ("Al", "Cu", "Zr")
    np.testing.assert_allclose(m.fractions.sum(axis=1), 1.0)
    assert m.canonical_names() == ["Cu50Zr50", "Al10Cu40Zr50", "Zr100"]
    assert m.systems() == ["Cu-Zr", "Al-Cu-Zr", "Zr"]


def test_vocabularies_accept_synonyms_and_reject_typos():
    assert ProcessingRoute.parse("meltspin") is ProcessingRoute.MELT_SPINNING
    assert ProcessingRoute.parse("Copper mold casting").model_group == "casting"
    assert SynthesisResult.parse("AC") is SynthesisResult.PARTIALLY_CRYSTALLINE
    assert SynthesisResult.parse("synthesis failed").glass_label is None
    with pytest.raises(VocabularyError, match="accepted: amorphous"):
        SynthesisResult.parse("amorfous")
