"""Database behaviour on a real SQLite file and a real PostgreSQL server (every test runs on both)."""

import csv
import json

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from db.datasets import import_labelled_csv
from db.errors import IngestError
from db.reports import Report, record_report
from db.migrate import current_revision, head_revision
from db.models import Composition, Dataset, Measurement, Outcome
from db.session import session_scope
from db.training import labelled_set


def _counts(engine) -> dict:
    with Session(engine) as s:
        return {t.__name__: s.exec(select(func.count()).select_from(t)).scalar_one() for t in (Composition, Outcome, Measurement, Dataset)}


def test_schema_is_created_by_alembic(engine):
    assert current_revision(engine) == head_revision(engine)


def test_import_sun_binary_data_keeps_every_row_and_is_idempotent(engine, binary_data_path):
    with session_scope(engine) as s:
        report = import_labelled_csv(s, binary_data_path)
    assert (report.rows, report.glass, report.not_glass) == (5483, 1144, 4339)
    assert _counts(engine)["Outcome"] == 5483
    with session_scope(engine) as s:
        again = import_labelled_csv(s, binary_data_path)
    assert again.already_imported and _counts(engine)["Outcome"] == 5483
    with session_scope(engine) as s:
        data = labelled_set(s, exclude_literature_systems={"Cu-Zr"})
    assert len(data) == 5483 - 99 and "Cu-Zr" not in set(data.systems)


def test_conflicting_reports_are_kept_side_by_side(engine, tmp_path):
    path = tmp_path / "conflict.csv"
    path.write_text("formula,gfa,processing\nCu50Zr50,1,meltspin\nZr50Cu50,0,meltspin\nCu64Zr36,1,sputtering\n")
    with session_scope(engine) as s:
        import_labelled_csv(s, path)
    counts = _counts(engine)
    assert counts["Outcome"] == 3 and counts["Composition"] == 2
    with session_scope(engine) as s:
        data = labelled_set(s)
    assert sorted(data.labels.tolist()) == [0, 1, 1]
    assert set(data.routes) == {"melt-spinning", "sputtering"}


@pytest.mark.parametrize(
    "body, row, field",
    [
        ("formula,gfa\nCu50Zr50,1\nQq50Zr50,0\n", 2, "formula"),
        ("formula,gfa\nCu50Zr50,1\nCu40Zr60,maybe\n", 2, "gfa"),
        ("formula,gfa\nCu50Zr50,1\nCu40Zr60\n", 2, "gfa"),  # truncated line
        ("formula,gfa,processing\nCu50Zr50,1,meltspin\nCu40Zr60,0,welding\n", 2, "processing"),
    ],
)
def test_a_bad_row_rejects_the_whole_file(engine, tmp_path, body, row, field):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    before = _counts(engine)
    with pytest.raises(IngestError) as info:
        with session_scope(engine) as s:
            import_labelled_csv(s, path)
    assert info.value.errors[0].row == row and info.value.errors[0].field == field
    assert f"row {row}" in str(info.value) and "nothing was written" in str(info.value)
    assert _counts(engine) == before


def test_report_with_measurements_is_stored_and_used_for_training(engine):
    with session_scope(engine) as s:
        record_report(s, Report("Cu50Zr45Al5", "amorphous", "melt-spinning", reporter="ada",
                                measurements={"Tg": (700, "K"), "Tl": (1150, "K"), "Dmax": (2, "mm")}))
    with session_scope(engine) as s:
        data = labelled_set(s)
        units = {m.quantity: m.unit for m in s.exec(select(Measurement)).scalars()}
    assert data.canonical == ["Al5Cu50Zr45"] and data.labels.tolist() == [1] and data.sources.tolist() == ["lab"]
    assert units == {"Tg": "K", "Tl": "K", "Dmax": "mm"}


@pytest.mark.parametrize(
    "report, field",
    [
        (Report("Cu50Zr45Xx5", "amorphous", "melt-spinning"), "composition"),
        (Report("Cu50Zr45Al2", "amorphous", "melt-spinning"), "composition"),
        (Report("Cu50Zr45Al5", "glassy-ish", "melt-spinning"), "result"),
        (Report("Cu50Zr45Al5", "amorphous", "arc welding"), "method"),
        (Report("Cu50Zr45Al5", "amorphous", "melt-spinning", measurements={"Tg": (900, "K"), "Tl": (800, "K")}), "Tg"),
        (Report("Cu50Zr45Al5", "amorphous", "melt-spinning", measurements={"Dmax": (150, "mm")}), "Dmax"),
        (Report("Cu50Zr45Al5", "amorphous", "melt-spinning", measurements={"youngs_modulus": (90, "psi")}), "youngs_modulus"),
        (Report("Cu50Zr45Al5", "amorphous", "melt-spinning", job_id=999), "job_id"),
    ],
)
def test_bad_reports_write_nothing(engine, report, field):
    before = _counts(engine)
    with pytest.raises(IngestError) as info:
        with session_scope(engine) as s:
            record_report(s, report)
    assert info.value.errors[0].field == field
    assert _counts(engine) == before


def test_training_set_cache_reads_only_new_rows_and_reloads_after_a_revision(engine, tmp_path, monkeypatch):
    """The incremental training set equals a full read after additions and after a row is
    hidden (as a revised report hides its old outcome). Synthetic compositions/labels."""
    import db.training as training

    def as_rows(data):
        return list(zip(data.canonical, data.routes.tolist(), data.labels.tolist(), data.sources.tolist()))

    first = tmp_path / "first.csv"
    first.write_text("formula,gfa,processing\nCu50Zr50,1,meltspin\nCu60Zr40,0,meltspin\nNi50Ti50,0,sputtering\n")
    with session_scope(engine) as s:
        import_labelled_csv(s, first)
    reads = []
    real = training._labelled_rows
    monkeypatch.setattr(training, "_labelled_rows", lambda *a, **k: reads.append(k.get("after_id", 0)) or real(*a, **k))
    cache = training.TrainingSetCache()
    with session_scope(engine) as s:
        assert as_rows(cache.labelled_set(s, campaign_id=None)) == as_rows(labelled_set(s))
    second = tmp_path / "second.csv"
    second.write_text("formula,gfa,processing\nAl50Ni50,0,meltspin\nCu45Zr55,1,sputtering\n")
    with session_scope(engine) as s:
        import_labelled_csv(s, second)
    with session_scope(engine) as s:
        reads.clear()
        incremental = cache.labelled_set(s, campaign_id=None)
        assert len(reads) == 1 and reads[0] > 0  # only the rows after the cached ones were read
        assert as_rows(incremental) == as_rows(labelled_set(s)) and len(incremental) == 5
    with session_scope(engine) as s:  # hide one outcome (what a revision does to the old one)
        old = s.exec(select(Outcome).order_by(Outcome.id)).scalars().first()
        old.is_current = False
        s.add(old)
    with session_scope(engine) as s:
        reads.clear()
        after = cache.labelled_set(s, campaign_id=None)
        assert reads[-1] == 0  # the counts disagreed: read again in full
        assert as_rows(after) == as_rows(labelled_set(s)) and len(after) == 4


def test_migration_0003_keeps_older_campaigns_loadable_and_round_trips(database_url):
    """A database at 0002 with a campaign stored before objectives and campaign files existed:
    upgraded, the campaign still loads; the new columns store a file and predictions; the
    downgrade removes them and the upgrade brings them back."""
    from alembic import command
    from sqlalchemy import text

    from agents.config import CampaignConfig
    from db.migrate import alembic_config, upgrade
    from db.models import Campaign, ModelVersion, Proposal
    from db.session import get_engine

    engine = get_engine(database_url)
    upgrade(engine, "0002")
    old_config = {"name": "old", "space": {"systems": ["Cu-Zr"]}, "destination": "replay", "oracle_csv": __file__,
                  "iterations": 3, "batch_size": 4}
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO campaign (name, status, config, iterations_planned, iterations_done, created_at, "
                          "updated_at, summary, lab_seen_outcome_id) VALUES ('old', 'finished', :c, 3, 3, "
                          "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, '{}', 0)"), {"c": json.dumps(old_config)})
    upgrade(engine)
    assert current_revision(engine) == head_revision(engine)
    with Session(engine) as s:
        old = s.exec(select(Campaign)).scalars().one()
        config = CampaignConfig.model_validate(old.config)
        assert old.campaign_file is None and config.objectives == [] and config.shares is None
        assert config.batch_shares() == [("replay", 4)] and config.objective_list()[0].name == "glass"
        old.campaign_file = {"file": "c.yaml", "text": "name: c\n"}
        comp = Composition(canonical="Cu50Zr50", system="Cu-Zr", n_components=2, fractions={"Cu": 0.5, "Zr": 0.5})
        version = ModelVersion(kind="gfa-ensemble", train_size=0, train_hash="x", artifact=b"x", artifact_sha256="x")
        s.add_all([old, comp, version])
        s.flush()
        s.add(Proposal(campaign_id=old.id, iteration=1, rank=0, composition_id=comp.id, processing="unknown", p_gfa=0.1,
                       destination="experiment", model_version_id=version.id,
                       predictions={"youngs_modulus_gpa": {"mean": 101.5, "std": 4.0}, "p_feasible": 0.64}))
        s.commit()
    with Session(engine) as s:
        assert s.exec(select(Campaign)).scalars().one().campaign_file["text"] == "name: c\n"
        assert s.exec(select(Proposal)).scalars().one().predictions["youngs_modulus_gpa"]["mean"] == 101.5
    command.downgrade(alembic_config(engine), "0002")
    assert current_revision(engine) == "0002"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM campaign")).scalar_one() == "old"
    upgrade(engine)
    with Session(engine) as s:
        assert s.exec(select(Campaign)).scalars().one().campaign_file is None
    engine.dispose()
    get_engine.cache_clear()


def test_migration_0004_model_lineage_round_trips(database_url):
    """Lineage columns: a version with its parent, trigger and training set; the downgrade to
    0003 keeps the versions, the upgrade brings the columns back empty."""
    from alembic import command
    from sqlalchemy import text

    from db.migrate import alembic_config, upgrade
    from db.models import ModelVersion
    from db.session import get_engine

    engine = get_engine(database_url)
    upgrade(engine)
    with Session(engine) as s:
        parent = ModelVersion(kind="modulus-ensemble", train_size=3, train_hash="a", artifact=b"x", artifact_sha256="x")
        s.add(parent)
        s.flush()
        child = ModelVersion(kind="modulus-ensemble", train_size=4, train_hash="b", artifact=b"y", artifact_sha256="y",
                             parent_id=parent.id, trigger={"reason": "+1 lab youngs_modulus"},
                             training_set={"by_source": {"literature": {"youngs_modulus": 3}, "lab": {"youngs_modulus": 1}}})
        s.add(child)
        s.commit()
        child_id = child.id
    with Session(engine) as s:
        row = s.get(ModelVersion, child_id)
        assert s.get(ModelVersion, row.parent_id).train_hash == "a"
        assert row.training_set["by_source"]["lab"] == {"youngs_modulus": 1}
    command.downgrade(alembic_config(engine), "0003")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM modelversion")).scalar_one() == 2
    upgrade(engine)
    with Session(engine) as s:
        assert s.get(ModelVersion, child_id).parent_id is None
