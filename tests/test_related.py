"""Related-system evidence (discovery.related): which records count, and that on real data it
carries the signal the tree members use for an unmeasured system."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from discovery.composition import CompositionMatrix
from discovery.descriptors import FRACTION_ELEMENTS, element_fractions
from discovery.related import RelatedSystemEvidence, related_feature_names


def _fractions(formulas):
    return element_fractions(CompositionMatrix.from_formulas(formulas))


def _evidence(train, labels, query):
    names = related_feature_names()
    ev = RelatedSystemEvidence().fit(_fractions(train), labels).transform(_fractions(query))
    return {name: ev[:, j] for j, name in enumerate(names)}


def test_own_system_never_counts_and_siblings_are_not_related():
    # synthetic labels on real formulas: only set membership and distances matter here
    train = ["Cu50Zr50", "Cu60Zr40", "Cu45Zr45Ti10"]
    ev = _evidence(train, [1, 1, 0], ["Cu50Zr50", "Cu45Zr45Al10"])
    # Cu50Zr50: its own system's two records are ignored; the Cu-Zr-Ti superset is the evidence
    assert np.isclose(ev["related_nearest_distance"][0], np.sqrt(0.05**2 * 2 + 0.1**2))
    assert ev["related_nearest_glass"][0] == 0
    # Cu-Zr-Al: the Cu-Zr edge counts (a subset); Cu-Zr-Ti is a sibling and does not
    assert ev["related_nearest_glass"][1] == 1
    assert np.isclose(ev["related_nearest_distance"][1], np.sqrt(0.05**2 * 2 + 0.1**2))
    assert ev["related_glass_8at"][1] > 0.5
    # a system with no related record gets the neutral values
    none = _evidence(["Cu50Zr50"], [1], ["Cu50Zr50", "Fe80B20"])
    assert np.all(none["related_nearest_distance"] == np.sqrt(2.0))
    assert np.all(none["related_glass_3at"] == 0.5) and np.all(none["related_evidence_20at"] == 0.0)


def test_evidence_shrinks_to_one_half_where_it_is_thin():
    ev = _evidence(["Cu50Zr50"], [1], ["Cu50Zr45Al5", "Cu20Zr20Al60"])
    near, far = ev["related_glass_20at"]
    assert 0.5 < far < near < 1.0
    assert ev["related_evidence_20at"][0] > ev["related_evidence_20at"][1]
    assert ev["related_glass_3at"][1] == 0.5  # 60 at.% away: no evidence at the 3 at.% scale


def test_a_refit_forgets_the_previous_fit_and_a_pickle_gives_the_same_evidence():
    import pickle

    query = _fractions(["Cu45Zr45Al10", "Cu50Zr50", "Ni60Nb35Ta5"])
    model = RelatedSystemEvidence().fit(_fractions(["Cu50Zr50", "Cu60Zr40Ti0.5", "Ni60Nb40"]), [1, 1, 0])
    model.transform(query)
    model.fit(_fractions(["Cu50Zr50", "Ni60Nb40", "Cu20Zr20Al60"]), [0, 1, 0])
    fresh = RelatedSystemEvidence().fit(_fractions(["Cu50Zr50", "Ni60Nb40", "Cu20Zr20Al60"]), [0, 1, 0])
    np.testing.assert_array_equal(model.transform(query), fresh.transform(query))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).transform(query), fresh.transform(query))


def test_fractions_cover_the_shipped_literature_and_ignore_unlisted_elements():
    from discovery.literature import load_literature

    from discovery.descriptors import featurizable

    matrix = load_literature().labelled_set().matrix()
    present = matrix.fractions[featurizable(matrix)].max(axis=0) > 0
    assert set(np.asarray(matrix.elements)[present]) == set(FRACTION_ELEMENTS)
    x = _fractions(["Cu50Zr45Sc5", "Cu50Zr45Os5"])
    assert np.isclose(x[0].sum(), 1.0) and np.isclose(x[1].sum(), 0.95)


def test_related_evidence_predicts_held_out_binaries_on_real_data():
    """Sun 2017 binaries of systems held out from the evidence: the Landolt ternaries that
    extend them (and the other sets) say which binary compositions form glasses."""
    from discovery.literature import load_literature

    from discovery.descriptors import featurizable

    data = load_literature().labelled_set()
    data = data.subset(featurizable(data.matrix()))
    matrix = data.matrix()
    F = element_fractions(matrix)
    n_el = (F > 0).sum(axis=1)
    systems = np.asarray(data.systems)
    binaries = sorted({s for s, k in zip(systems, n_el) if k == 2})
    rng = np.random.default_rng(0)
    held = set(rng.choice(binaries, size=len(binaries) // 5, replace=False).tolist())
    test = np.isin(systems, sorted(held))
    ev = RelatedSystemEvidence().fit(F[~test], data.labels[~test]).transform(F[test])
    covered = ev[:, 0] < np.sqrt(2.0)
    assert covered.mean() > 0.5
    auc = roc_auc_score(data.labels[test][covered], ev[covered, related_feature_names().index("related_glass_8at")])
    assert auc > 0.65, auc  # one column alone, no model: clearly better than chance
