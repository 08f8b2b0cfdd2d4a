"""VITRIFY_TRAINING_LITERATURE_ROWS: a campaign may train on a seeded, stratified sample of the
real literature (quick trial campaigns, the flow-level tests); unset, it trains on all of it."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from discovery.composition import parse_composition
from discovery.dataset import LabelledSet


@pytest.fixture(scope="module")
def literature():
    from discovery.literature import load_literature

    return load_literature().labelled_set()


def _with_campaign_rows(data: LabelledSet, formulas: list[str]) -> LabelledSet:
    own = LabelledSet([parse_composition(f) for f in formulas], ["melt-spinning"] * len(formulas),
                      [i % 2 for i in range(len(formulas))], ["replay"] * len(formulas))
    return data.concat(own)


def test_sample_keeps_the_campaign_rows_and_the_strata(literature):
    data = _with_campaign_rows(literature, ["Cu50Zr50", "Cu64Zr36", "Pd40Zr60"])
    sample = data.sample_literature(2000, seed=3)
    sources = np.asarray(sample.sources, dtype=object)
    assert (sources == "literature").sum() == 2000
    assert sample.canonical[-3:] == ["Cu50Zr50", "Cu64Zr36", "Pd40Zr60"] and (sources == "replay").sum() == 3
    # (route, label) shares of the whole table, each within one row of proportional
    whole = Counter(zip(map(str, literature.routes), map(int, literature.labels)))
    lit = sources == "literature"
    drawn = Counter(zip(map(str, sample.routes[lit]), map(int, sample.labels[lit])))
    for key, n in whole.items():
        assert abs(drawn[key] - 2000 * n / len(literature)) <= 1, key
    # real rows of the table, none twice
    rows = list(zip(sample.canonical, map(str, sample.routes), map(int, sample.labels)))
    table = Counter(zip(literature.canonical, map(str, literature.routes), map(int, literature.labels)))
    assert all(table[r] >= c for r, c in Counter(rows[:-3]).items())


def test_sample_is_the_same_while_a_campaign_adds_rows_and_changes_with_the_seed(literature):
    before = literature.sample_literature(1000, seed=0)
    after = _with_campaign_rows(literature, ["Cu50Zr50", "Ni60Nb40"]).sample_literature(1000, seed=0)
    assert after.canonical[:-2] == before.canonical
    assert literature.sample_literature(1000, seed=1).canonical != before.canonical
    assert literature.sample_literature(len(literature), seed=0) is literature  # nothing to drop


def test_training_data_is_all_visible_rows_unless_the_setting_limits_it(engine, binary_data_path, monkeypatch):
    """The campaign's training set (agents.retrain.training_data) with and without the setting."""
    from agents.config import CampaignConfig, SpaceConfig
    from agents.loop import create_campaign
    from agents.retrain import training_data
    from db.datasets import import_labelled_csv
    from db.session import session_scope
    from db.training import labelled_set
    from discovery.features import featurizable
    from vitrify.settings import reset_settings_cache

    holdout = ["Cu-Ti", "Pd-Zr"]
    monkeypatch.delenv("VITRIFY_TRAINING_LITERATURE_ROWS", raising=False)
    reset_settings_cache()
    with session_scope(engine) as s:
        import_labelled_csv(s, binary_data_path)
        campaign = create_campaign(s, CampaignConfig(name="t", space=SpaceConfig(systems=holdout), iterations=1,
                                                     batch_size=2, oracle_csv=str(binary_data_path),
                                                     holdout_systems=holdout))
        visible = labelled_set(s, exclude_literature_systems=set(holdout))
        everything = training_data(s, campaign)
        assert everything.canonical == visible.subset(featurizable(visible.matrix())).canonical
        assert len(everything) > 3000
        monkeypatch.setenv("VITRIFY_TRAINING_LITERATURE_ROWS", "500")
        reset_settings_cache()
        try:
            sample = training_data(s, campaign)
        finally:
            reset_settings_cache()
    assert len(sample) == 500
    assert set(sample.canonical) <= set(everything.canonical)
    assert not set(sample.systems.tolist()) & set(holdout)
    assert sample.labels.min() == 0 and sample.labels.max() == 1


def test_the_setting_is_validated(monkeypatch):
    from pydantic import ValidationError

    from vitrify.settings import Settings

    monkeypatch.setenv("VITRIFY_TRAINING_LITERATURE_ROWS", "5")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.setenv("VITRIFY_TRAINING_LITERATURE_ROWS", "1500")
    assert Settings().training_literature_rows == 1500
