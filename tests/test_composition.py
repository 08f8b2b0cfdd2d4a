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


@pytest.mark.parametrize("text, canonical", [
    ("(Cu50Zr50)95Al5", "Al5Cu47.5Zr47.5"),  # 95 at.% of Cu50Zr50
    ("Cu47.5Zr47.5Al5", "Al5Cu47.5Zr47.5"),
    ("Cu0.475Zr0.475Al0.05", "Al5Cu47.5Zr47.5"),  # atomic fractions
    ("((Fe0.5Co0.5)0.75B0.2Si0.05)96Nb4", "B19.2Co36Fe36Nb4Si4.8"),  # nested, as Inoue writes them
    ("[Fe0.75B0.15Si0.10]99Nb1", "B14.85Fe74.25Nb1Si9.9"),
    ("La70Al14(CuNi)16", "Al14Cu8La70Ni8"),  # a group of equal parts, 16 at.% in all
    ("Al(NiB)2", "Al20B40Ni40"),  # a chemist's formula (matbench): counts multiply
    ("Al18.5Co 18.5Cr18.5Fe18.5Mo7.4Ni18.5", "Al18.52Co18.52Cr18.52Fe18.52Mo7.41Ni18.52"),  # a space inside
    ("AlCrMoSiTi", "Al20Cr20Mo20Si20Ti20"),  # equal parts, no amounts
])
def test_the_notation_of_the_field(text, canonical):
    assert parse_composition(text, percent=True, normalize=text == "Al(NiB)2").canonical == canonical


@pytest.mark.parametrize("text, fragment", [
    ("NaN", "missing value"),  # not sodium and nitrogen
    ("nan", "missing value"),
    ("Al40Cu60T", "isotope"),  # tritium
    ("D2Zr", "isotope"),
    ("Ar50Cu50", "noble gas"),
    ("Cu50Xe50", "noble gas"),
    ("Cu" * 200, "at most 256"),
    ("Cu50Zr45Al2", "sum to 97"),
    ("Cu-50Zr150", "negative"),
    ("(Cu50Zr50", "')' missing"),
])
def test_what_is_refused_and_why(text, fragment):
    with pytest.raises(CompositionError) as info:
        parse_composition(text, percent=True)
    assert fragment in str(info.value)


def test_weight_percent_behind_its_flag():
    # Cu50Zr50 in wt.%: Cu (63.5 g/mol) is lighter than Zr (91.2 g/mol), so more Cu atoms
    at = parse_composition("Cu50Zr50", percent=True, wt_percent=True).at_percent()
    assert at["Cu"] == pytest.approx(100 * (50 / 63.546) / (50 / 63.546 + 50 / 91.224), abs=0.01)
    assert parse_composition("Cu50Zr50", percent=True).at_percent()["Cu"] == 50
    with pytest.raises(CompositionError, match="wt.% sum to 90"):
        parse_composition("Cu50Zr40", percent=True, wt_percent=True)
