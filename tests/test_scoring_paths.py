"""The fast paths of scoring give what the plain ones give: GFA and property models predicting
in row blocks, forests averaged tree by tree, element statistics shared between the GFA model
and the bulk-GFA model, the batched domain search, and the bracket-free formula parser."""

from __future__ import annotations

import pickle
from functools import lru_cache

import numpy as np
import pytest

from discovery.composition import CompositionMatrix, _parse, _read_amounts, _parse_items, _tokens
from discovery.evaluation import load_labelled_csv
from discovery.models import GFAEnsemble, GlassFormingModel
from discovery.space import SearchSpace
from shared_data import BINARY, SYSTEMS, liquidus_model


@lru_cache(maxsize=1)
def gfa_model() -> GlassFormingModel:
    data = load_labelled_csv(BINARY)
    data = data.subset(np.isin(data.systems, SYSTEMS))
    return GlassFormingModel(GFAEnsemble(et_trees_per_member=5, gb_max_iter=40), liquidus=liquidus_model()).fit(data)


@lru_cache(maxsize=1)
def property_models():
    from discovery.bulk import BulkGFAEnsemble, load_bulk_data
    from discovery.modulus import ModulusEnsemble, load_modulus_data

    bulk = BulkGFAEnsemble(targets=("dmax_mm", "tg_k", "tl_k"), params={"et_n_estimators": 10, "gb_max_iter": 20})
    modulus = ModulusEnsemble(targets=("E",), params={"rf_n_estimators": 10})
    return modulus.fit(load_modulus_data()), bulk.fit(load_bulk_data())


def grid(n: int) -> CompositionMatrix:
    space = SearchSpace(elements=["Al", "Cu", "Ni", "Ti", "Zr"], min_components=2, max_components=3, step=2.0)
    return next(iter(space.iter_chunks(chunk_size=n)))


def test_blocked_property_predictions_equal_scikit_learns_own():
    """Forests averaged tree by tree and boosting in row blocks are bit-identical to predict();
    the polynomial, LASSO and MLP members agree to rounding."""
    from discovery.regressors import _BLOCK_ROWS

    modulus, bulk = property_models()
    m = grid(2 * _BLOCK_ROWS + 17)
    assert len(m) > _BLOCK_ROWS
    for ens in (modulus, bulk):
        X = ens.features(m)
        for target, members in ens.models_.items():
            got = ens.member_predictions_from_features(X, target)
            for k, name in enumerate(ens.members):
                want = members[name].predict(X)
                if ens.transforms.get(target) == "log10":
                    want = 10.0 ** want
                if name in ("rf", "et", "gb"):
                    assert np.array_equal(got[k], want), (ens.kind, target, name)
                else:  # matrix products round by block size
                    assert np.allclose(got[k], want, rtol=1e-12, atol=0), (ens.kind, target, name)
    # rows with an undefined input stay NaN, the others are unchanged
    X = bulk.features(m)
    X[3, 0] = np.nan
    got = bulk.member_predictions_from_features(X, "tg_k")
    assert np.isnan(got[:, 3]).all() and np.isfinite(np.delete(got, 3, axis=1)).all()


def test_chunked_scoring_with_shared_statistics_equals_the_plain_computation():
    modulus, bulk = property_models()
    model = gfa_model()
    m = grid(5000)
    routes = np.array(["unknown", "sputtering", "casting", "melt-spinning"] * (len(m) // 4 + 1), dtype=object)[:len(m)]
    try:
        model.with_modulus(modulus).with_bulk(bulk)
        s = model.score(m, routes, chunk_size=3000, n_jobs=2)
    finally:
        model.with_modulus(None).with_bulk(None)
    p_gfa, members = model.score_design(model.design_matrix(m, routes))
    # the float32 RBF kernel rounds by block; nothing else may change
    assert np.allclose(s.p_gfa, p_gfa, atol=1e-3)
    assert np.allclose(s.members, members, atol=1e-4)
    for ens in (modulus, bulk):
        for name, pred in ens.predict_properties(m).items():
            assert np.allclose(s.prediction(name).mean, pred.mean, rtol=1e-12, atol=0, equal_nan=True), name
            assert np.allclose(s.prediction(name).std, pred.std, rtol=1e-9, atol=1e-12, equal_nan=True), name
    # the statistics handed to the property models are the design matrix's own columns
    features, _ = model.composition_features(m)
    from discovery.features import element_statistics

    assert np.array_equal(model._statistics_in(features), element_statistics(m))


def test_domain_search_finds_the_exact_nearest_training_composition():
    from discovery.domain import TrainingDomain
    from discovery.literature import load_literature

    table = load_literature()
    domain = TrainingDomain(table.labelled_set().matrix())
    names = sorted(set(table.records["composition"]))
    rng = np.random.default_rng(3)
    picked = [names[i] for i in rng.choice(len(names), 200, replace=False)] + ["Cu33Zr33Os34", "Cu41Zr40Al19"]
    q = CompositionMatrix.from_formulas(picked)
    best, moved = domain._nearest_full(q, np.arange(len(q)))
    t = domain.fractions.toarray().astype(np.float64)
    index = {e: j for j, e in enumerate(domain.elements)}
    for r in range(len(q)):
        row = np.zeros(len(domain.elements))
        for j in np.flatnonzero(q.fractions[r] > 0):
            if q.elements[j] in index:
                row[index[q.elements[j]]] = q.fractions[r, j] / q.fractions[r].sum()
        d2 = ((t - row) ** 2).sum(axis=1)
        assert d2[best[r]] <= d2.min() + 1e-12, picked[r]
    # near-ties: midpoints of close training pairs, moved 1e-5 at.% toward one of them, where
    # float32 distances alone cannot tell the two apart
    close = []
    for a in rng.choice(len(t), 400, replace=False):
        d2 = ((t - t[a]) ** 2).sum(axis=1)
        d2[a] = np.inf
        b = int(np.argmin(d2))
        if 0 < d2[b] < 1e-3:
            close.append(0.5 * (t[a] + t[b]) + 1e-7 * (t[a] - t[b]) / np.sqrt(d2[b]))
    assert len(close) > 20
    ties = CompositionMatrix(domain.elements, np.array(close))
    best, _ = domain._nearest_full(ties, np.arange(len(ties)))
    for r in range(len(ties)):
        d2 = ((t - ties.fractions[r] / ties.fractions[r].sum()) ** 2).sum(axis=1)
        assert d2[best[r]] <= d2.min() + 1e-15, r
    # a stored domain carries no dense copy; a loaded one builds it again
    domain.assess(q)
    clone = pickle.loads(pickle.dumps(domain))
    assert "_dense_cache" not in clone.__dict__
    a, b = domain.assess(q), clone.assess(q)
    assert list(a.verdict) == list(b.verdict) and list(a.nearest_measured) == list(b.nearest_measured)


def test_domain_verdicts_by_element_set():
    from discovery.domain import TrainingDomain

    train = CompositionMatrix.from_formulas(["Cu50Zr50", "Cu64Zr36", "Cu60Zr30Al10", "Ni60Nb40"])
    domain = TrainingDomain(train)
    q = CompositionMatrix.from_formulas(["Cu52Zr48", "Cu50Zr50", "Ni50Zr50", "Cu30Zr30Os40", "Ni62Nb38", "Al90Cu10"])
    a = domain.assess(q)
    assert list(a.verdict) == ["inside", "inside", "outside", "outside", "inside", "outside"]
    assert a.unseen_elements == [(), (), (), ("Os",), (), ()]
    assert list(a.system_rows) == [2, 2, 0, 0, 1, 0]
    assert a.nearest_measured[0] == "Cu50Zr50" and abs(a.nearest_at_pct[0] - 2.0) < 1e-9
    assert "Os" in a.reason[3] and "at.% away" in a.reason[2]
    edge = domain.assess(CompositionMatrix.from_formulas(["Cu58Zr32Ni10"]))
    assert edge.verdict[0] == "edge" and "never measured" in edge.reason[0]
    empty = domain.assess(CompositionMatrix(("Cu", "Zr"), np.zeros((0, 2))))
    assert len(empty) == 0


@pytest.mark.parametrize("text", [
    "Cu47.5Zr47.5Al5", "Cu50 Zr45 Al5", "CuZr", "CuZr2", "Cu0.5Zr0.5", "Cu.5Zr.5", "Cu50Zr50.", "Cu50Cu10Zr40",
    "Zr41.2Ti13.8Cu12.5Ni10Be22.5", "Fe80B20", "Pd40Ni40P20", "Cu",
])
def test_bracket_free_formulas_read_as_the_general_parser_reads_them(text):
    general = _read_amounts(_parse_items(_tokens(text, "f"), 0, text, "f", None)[0])
    total = sum(general.values())
    assert _parse(text, False, False, "f") == tuple(sorted((e, x / total) for e, x in general.items()))


def test_predicted_compositions_are_the_canonical_names():
    from discovery.predict import predict_rows

    formulas = ["Cu47.5Zr47.5Al5", "(Cu50Zr50)95Al5", "Cu0.5Zr0.5", "Zr41.2Ti13.8Cu12.5Ni10Be22.5"]
    cols, problems = predict_rows(formulas, [None] * 4, gfa_model())
    assert not problems
    assert list(cols["composition"]) == CompositionMatrix.from_formulas(formulas).canonical_names()
