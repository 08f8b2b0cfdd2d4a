"""The campaign file: the document's keys, every problem named by its path, the share rule,
the templates, and `vitrify campaign init / validate` through typer's runner."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agents.campaign_file import CampaignFileError, load_campaign_file, parse_campaign_text, template
from agents.config import AGENT_PRESETS
from vitrify.cli import app

runner = CliRunner()
POOL = Path(__file__).resolve().parents[1] / "vitrify" / "data" / "pools" / "binary_holdout6.csv"

ISSUE_EXAMPLE = """\
name: cuzraly-night
space:
  elements: [Cu, Zr, Al, Y]
  components: [4, 4]
  bounds: {Al: [0, 15], Y: [0, 10]}
  required: [Cu, Zr]
  forbidden: []
  step: 1
processing: melt-spinning
objectives:
  - {property: glass, goal: maximize}
  - {property: youngs_modulus_gpa, goal: maximize, min: 100}
agent: ucb
batch: 10
iterations: 8
destinations:
  - {kind: lab, budget_per_night: 10, require_approval: true}
  - {kind: simulation, budget: 2, preset: production}
seed: 0
"""


def _problems(text: str, base_dir: Path = Path(".")) -> list[str]:
    with pytest.raises(CampaignFileError) as info:
        parse_campaign_text(text, base_dir=base_dir)
    return [str(p) for p in info.value.problems]


def test_the_issue_example_becomes_the_campaign_config():
    config = parse_campaign_text(ISSUE_EXAMPLE).to_config()
    space = config.space.build()
    assert space.size() > 10_000 and space.contains("Al10Cu40Y5Zr45") and not space.contains("Al20Cu40Y5Zr35")
    assert not space.contains("Cu50Zr50")  # four components, Cu and Zr required
    # the share rule: the simulation's budget is its share of the batch, the lab takes the rest
    assert [(s.kind, s.count) for s in config.shares] == [("experiment", 8)]
    assert (config.batch_size, config.simulation_budget, config.simulation_preset) == (8, 2, "production")
    assert config.lab == {"budget_per_night": 10, "require_approval": True}
    assert config.processing == "melt-spinning" and config.iterations == 8 and config.seed == 0
    assert [(o.name, o.goal, o.at_least, o.at_most) for o in config.objectives] == [
        ("glass", "maximize", None, None), ("youngs_modulus_gpa", "maximize", 100.0, None)]
    assert config.agent == AGENT_PRESETS["ucb"]  # `agent: ucb` is the preset every command means
    assert config.sends_to("experiment") and config.sends_to("simulation") and not config.sends_to("replay")


def test_agent_overrides_and_until():
    text = ISSUE_EXAMPLE.replace("agent: ucb", "agent: {preset: ucb, kappa: 0.5, diversity: 0}").replace(
        "iterations: 8", 'until: "7:00"\ntimezone: Europe/Berlin')
    config = parse_campaign_text(text).to_config()
    assert (config.agent.kappa, config.agent.diversity) == (0.5, 0.0)
    assert config.agent.explore_fraction == AGENT_PRESETS["ucb"].explore_fraction
    assert (config.until, config.timezone) == ("07:00", "Europe/Berlin") and config.iterations == 1000


@pytest.mark.parametrize(
    "replace, expected",
    [
        (("[0, 15]", "[0, 150]"), "space.bounds.Al: upper bound 150 > 100"),
        (("[0, 15]", "[20, 15]"), "space.bounds.Al: lower bound 20 > upper bound 15"),
        (("[Cu, Zr, Al, Y]", "[Cu, Zr, Al, Qx]"), "space.elements[3]: unknown element 'Qx'"),
        (("step: 1", "step: 3"), "space.step: 3 at.% does not divide 100 at.%"),
        (("step: 1", "stepp: 1"), "space.stepp: unknown key (did you mean step?)"),
        (("youngs_modulus_gpa", "youngs_modulus"), "objectives[1].property: unknown property 'youngs_modulus'"),
        (("goal: maximize, min: 100", "goal: maximise, min: 100"), "objectives[1].goal: Input should be 'maximize' or 'minimize'"),
        (("min: 100", "min: 100, max: 90"), "objectives[1].min: min 100 > max 90"),
        (("agent: ucb", "agent: ucbb"), "agent.preset: unknown agent 'ucbb'; did you mean ucb?"),
        (("processing: melt-spinning", "processing: melt-spun-ish"), "processing: unknown processing route 'melt-spun-ish'"),
        (("batch: 10", "batch: 100000000"), "batch: Input should be less than or equal to 10000"),
        (("kind: simulation", "kind: robot"), "destinations[1].kind: unknown kind 'robot'; known: lab, simulation, replay"),
        (("budget_per_night: 10", "budget_per_night: -1"), "destinations[0].budget_per_night: Input should be greater than or equal to 0"),
        (("budget: 2", "budget: 12"), "destinations: shares add up to 12 (simulation 12) but batch is 10"),
        (("seed: 0", "seed: 0\nseeds: 1"), "seeds: unknown key (did you mean seed?)"),
        (("iterations: 8", 'iterations: 8\nuntil: "25:00"'), "until: until must be HH:MM, got '25:00'"),
        (("iterations: 8", "iterations: 8\ntimezone: Mars/Olympus"), "timezone: unknown time zone 'Mars/Olympus'"),
    ],
)
def test_every_problem_is_named_by_its_path(replace, expected):
    problems = _problems(ISSUE_EXAMPLE.replace(*replace))
    assert any(p.startswith(expected) for p in problems), problems
    assert not any("validation error" in p or "pydantic" in p or "\n" in p for p in problems)


def test_all_problems_at_once_one_line_each():
    text = ISSUE_EXAMPLE.replace("[0, 15]", "[0, 150]").replace("agent: ucb", "agent: {preset: ucb, kapa: 1}").replace(
        "kind: simulation", "kind: robot")
    problems = _problems(text)
    assert problems == ["space.bounds.Al: upper bound 150 > 100", "agent.kapa: unknown key (did you mean kappa?)",
                        "destinations[1].kind: unknown kind 'robot'; known: lab, simulation, replay"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("name: x\nname: y\n", "line 2, column 1: not valid YAML: key 'name' is given twice (first on line 1)"),
        ("name: [x\n", "not valid YAML"),
        ("- a list\n", "a campaign file is a mapping of keys"),
        ("name: x\n", "destinations: missing"),
        ("name: x\ndestinations: [{kind: lab}]\n", "space: missing (only a replay destination can do without one"),
    ],
)
def test_unreadable_documents(text, expected):
    problems = _problems(text)
    assert any(expected in p for p in problems), problems


def test_objectives_goals_and_constraints():
    three = ISSUE_EXAMPLE.replace("  - {property: youngs_modulus_gpa, goal: maximize, min: 100}",
                                  "  - {property: youngs_modulus_gpa, goal: maximize}\n  - {property: tg_k, goal: maximize}")
    assert any(p.startswith("objectives[2].goal: at most two objectives can have a goal") for p in _problems(three))
    none = ISSUE_EXAMPLE.replace("{property: glass, goal: maximize}", "{property: glass, min: 0.5}").replace(
        "{property: youngs_modulus_gpa, goal: maximize, min: 100}", "{property: youngs_modulus_gpa, min: 100}")
    assert "objectives: at least one objective needs a goal (maximize or minimize)" in _problems(none)
    twice = ISSUE_EXAMPLE.replace("youngs_modulus_gpa", "glass").replace("min: 100", "min: 0.5")
    assert any(p.startswith("objectives[1].property: glass is already objectives[0]") for p in _problems(twice))
    assert any(p.startswith("objectives[1].min: P(glass) is a probability") for p in
               _problems(ISSUE_EXAMPLE.replace("youngs_modulus_gpa, goal: maximize, min: 100", "glass, min: 2")
                         .replace("{property: glass, goal: maximize}", "{property: p_gfa, goal: maximize}")))
    # a constraint without a goal: E >= 100 GPa among the best glass formers
    only = parse_campaign_text(ISSUE_EXAMPLE.replace("goal: maximize, min: 100", "min: 100")).to_config()
    assert [(o.name, o.goal) for o in only.objectives] == [("glass", "maximize"), ("youngs_modulus_gpa", None)]


@pytest.mark.parametrize(
    "destinations, batch, plan",
    [
        ("[{kind: lab}]", 10, [10]),
        ("[{kind: lab}, {kind: simulation}]", 7, [4, 3]),  # equal parts, the remainder to the first listed
        ("[{kind: lab, share: 6}, {kind: simulation}]", 10, [6, 4]),
        ("[{kind: simulation, budget: 3}]", 3, [3]),
    ],
)
def test_share_rule(destinations, batch, plan):
    text = ISSUE_EXAMPLE.split("destinations:")[0].replace("batch: 10", f"batch: {batch}") + f"destinations: {destinations}\n"
    assert parse_campaign_text(text).share_plan() == plan


def test_a_destination_left_without_a_share_is_refused():
    text = ISSUE_EXAMPLE.replace("batch: 10", "batch: 2")
    assert _problems(text) == ["destinations[0]: gets no share of a batch of 2; raise batch or give the others' share explicitly"]


def test_replay_without_space_takes_the_oracles_compositions(tmp_path):
    (tmp_path / "pools").mkdir()
    (tmp_path / "pools" / "pool.csv").write_text(POOL.read_text())
    text = "name: r\ndestinations:\n  - {kind: replay, oracle: pools/pool.csv}\n"
    path = tmp_path / "r.yaml"
    path.write_text(text)
    campaign_file = load_campaign_file(path)  # the oracle resolves against the file's directory
    config = campaign_file.to_config()
    assert config.oracle_csv == str((tmp_path / "pools" / "pool.csv").resolve())
    assert config.space.candidates_csv == config.oracle_csv and config.space.build().size() == 594
    assert sorted(config.holdout_systems) == ["Al-Ca", "Co-Zr", "Cu-Ti", "Mg-Zn", "Ni-Ta", "Pd-Zr"]
    assert config.shares[0].kind == "replay" and not config.sends_to("experiment")
    stored = campaign_file.stored()
    assert stored["text"] == text and stored["file"] == "r.yaml" and stored["document"]["destinations"][0]["kind"] == "replay"
    # with a space, only the oracle's systems the space can propose in are held out
    narrowed = text.replace("name: r\n", "name: r\nspace: {systems: [Cu-Ti, Zr-Pd], step: 1}\n")
    assert parse_campaign_text(narrowed, base_dir=tmp_path).to_config().holdout_systems == ["Cu-Ti", "Pd-Zr"]
    assert any(p.startswith("destinations[0].oracle: nothere.csv: no such file") for p in
               _problems(text.replace("pools/pool.csv", "nothere.csv"), tmp_path))


def test_candidate_files_are_checked_row_by_row(tmp_path):
    (tmp_path / "cands.csv").write_text("formula,note\nCu50Zr50,a\nCu64Zr36,b\nCu50Zr50,dup\n")
    text = ISSUE_EXAMPLE.replace(ISSUE_EXAMPLE.split("processing:")[0], "name: c\nspace: {candidates: cands.csv}\n")
    config = parse_campaign_text(text, base_dir=tmp_path).to_config()
    cands = config.space.build()
    assert cands.size() == 2 and cands.contains("Cu64Zr36") and not cands.contains("Cu60Zr40")
    (tmp_path / "cands.csv").write_text("formula\nCu50Zr50\nCu50Qx50\n")
    assert any(p.startswith("space.candidates: cands.csv: row 2: unknown element Qx") for p in _problems(text, tmp_path))
    both = text.replace("{candidates: cands.csv}", "{candidates: cands.csv, step: 1}")
    (tmp_path / "cands.csv").write_text("formula\nCu50Zr50\n")
    assert "space.step: not used with candidates (the list is searched as it is)" in _problems(both, tmp_path)


@pytest.mark.parametrize("kind", ["lab", "simulation", "replay"])
def test_templates_are_valid_as_written(kind, tmp_path):
    oracle = dict(oracle=str(POOL), oracle_path=POOL) if kind == "replay" else {}
    document = parse_campaign_text(template(kind, **oracle), base_dir=tmp_path)
    assert {d.kind for d in document.destinations} == {kind}
    assert document.to_config().iterations >= 1


# --------------------------------------------------------------------------- CLI


def test_init_writes_a_template_and_never_overwrites(tmp_path):
    target = tmp_path / "cz.yaml"
    res = runner.invoke(app, ["campaign", "init", "--lab", str(target)])
    assert res.exit_code == 0, res.output
    first = target.read_text()
    assert "kind: lab" in first and "require_approval" in first
    target.write_text(first.replace("batch: 10 ", "batch: 12 "))
    res = runner.invoke(app, ["campaign", "init", str(target)])
    assert res.exit_code == 1 and "exists; pass --force" in res.output
    assert "batch: 12" in target.read_text()  # untouched
    res = runner.invoke(app, ["campaign", "init", "--replay", str(POOL), "--force", str(target)])
    assert res.exit_code == 0 and "kind: replay" in target.read_text()
    res = runner.invoke(app, ["campaign", "init", "--lab", "--simulation", str(tmp_path / "x.yaml")])
    assert res.exit_code == 1 and "choose one of" in res.output and not (tmp_path / "x.yaml").exists()


def test_validate_names_each_problem_on_one_line_and_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(ISSUE_EXAMPLE.replace("[0, 15]", "[0, 150]").replace("kind: simulation", "kind: robot"))
    res = runner.invoke(app, ["campaign", "validate", str(bad)])
    assert res.exit_code == 2
    lines = res.output.splitlines()
    assert "  space.bounds.Al: upper bound 150 > 100" in lines
    assert "  destinations[1].kind: unknown kind 'robot'; known: lab, simulation, replay" in lines
    assert "Traceback" not in res.output and "validation error" not in res.output
    res = runner.invoke(app, ["campaign", "validate", "--json", str(bad)])
    assert res.exit_code == 2 and {"path": "space.bounds.Al", "message": "upper bound 150 > 100"} in json.loads(res.output)["problems"]
    res = runner.invoke(app, ["campaign", "validate", str(tmp_path / "missing.yaml")])
    assert res.exit_code == 2 and "missing.yaml: no such file" in res.output


def test_validate_summarizes_a_valid_file(tmp_path):
    good = tmp_path / "cz.yaml"
    good.write_text(ISSUE_EXAMPLE)
    res = runner.invoke(app, ["campaign", "validate", str(good)])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "valid campaign 'cuzraly-night'" in text and "1 at.% grid: 12,825 compositions" in text
    assert "maximize youngs_modulus_gpa >= 100 GPa" in text
    assert "lab 8 per batch (at most 10 a night, operator approval)" in text and "simulation 2 MD jobs per batch" in text
    data = json.loads(runner.invoke(app, ["campaign", "validate", "--json", str(good)]).output)
    assert data["valid"] and data["summary"]["space_size"] == 12_825 and data["config"]["simulation_budget"] == 2


def test_demo_flags_do_not_mix_with_a_file(tmp_path):
    good = tmp_path / "cz.yaml"
    good.write_text(ISSUE_EXAMPLE)
    res = runner.invoke(app, ["campaign", "run", str(good), "--iterations", "3"])
    assert res.exit_code == 1 and "--iterations: set by the campaign file" in res.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(textwrap.dedent(ISSUE_EXAMPLE).replace("batch: 10", "batch: ten"))
    res = runner.invoke(app, ["campaign", "run", str(bad)])
    assert res.exit_code == 2 and "batch: Input should be a valid integer" in res.output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_run_refuses_an_objective_no_model_can_predict_and_stores_nothing(use_database, tmp_path, monkeypatch):
    """Without a registered modulus model and without measured moduli to fit one on (here the
    shipped literature is not seeded), `campaign run` says which objective and stores nothing."""
    from sqlalchemy import func, select
    from sqlmodel import Session

    import vitrify.cli_campaign as cli_campaign
    from db.models import Campaign
    from db.session import get_engine

    monkeypatch.setattr(cli_campaign, "_ensure_shipped_data", lambda engine: None)
    path = tmp_path / "cz.yaml"
    path.write_text(ISSUE_EXAMPLE.replace("step: 1", "step: 5"))
    res = runner.invoke(app, ["campaign", "run", str(path)])
    assert res.exit_code == 1, res.output
    out = " ".join(res.output.split())
    assert "youngs_modulus_gpa (Young's modulus E): no modulus-ensemble model is registered yet" in out
    assert "0 measured compositions are too few to fit one (at least 10" in out and "Traceback" not in out
    with Session(get_engine()) as s:
        assert s.exec(select(func.count()).select_from(Campaign)).scalar_one() == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_models_to_fit_counts_what_the_campaign_may_fit_on(engine):
    """With the literature's measured moduli a campaign fits its own modulus model at its start;
    without any it cannot start."""
    from sqlmodel import Session

    from agents.loop import models_to_fit
    from db.literature import seed_literature

    config = parse_campaign_text(ISSUE_EXAMPLE.replace("step: 1", "step: 5")).to_config()
    with Session(engine) as s:
        fitted, missing = models_to_fit(s, config)
        assert fitted == [] and len(missing) == 1 and missing[0].startswith("youngs_modulus_gpa")
        seed_literature(s)
        s.commit()
        fitted, missing = models_to_fit(s, config)
    assert missing == [] and len(fitted) == 1
    assert "no modulus-ensemble model is registered yet; the campaign fits one on" in fitted[0]
    n = int(fitted[0].split(" fits one on ")[1].split()[0].replace(",", ""))
    assert n >= 10
    both = parse_campaign_text(ISSUE_EXAMPLE.replace("step: 1", "step: 5").replace(
        "objectives:", "objectives:\n  - {property: shear_modulus_gpa, min: 30}")).to_config()
    assert len(both.objective_list()) == 3
    with Session(engine) as s:
        assert len(models_to_fit(s, both)[0]) == 1  # E and G: one modulus ensemble to fit
