from agents.replay import ReplayOracle, answer_replay_job
from discovery.vocabulary import SynthesisResult


def test_oracle_answers_from_real_data_and_says_no_data_honestly(binary_data_path):
    oracle = ReplayOracle.from_csv(binary_data_path, systems={"Cu-Zr"})
    assert len(oracle) == 99 and oracle.systems == {"Cu-Zr"}
    # Cu50Zr50 is a known binary glass former in the Sun 2017 data
    assert oracle.answer("Cu50Zr50").result is SynthesisResult.AMORPHOUS
    assert oracle.answer("Cu99Zr1").result is SynthesisResult.CRYSTALLINE
    missing = oracle.answer("Al50Cu50")
    assert not missing.has_data and missing.provenance["reason"] == "no data"
    out = answer_replay_job(oracle, {"job_id": 7, "canonical": "Al50Cu50"})
    assert out == {"job_id": 7, "canonical": "Al50Cu50", "result": None, "provenance": missing.provenance}


def test_conflicting_records_are_reported(tmp_path):
    path = tmp_path / "pool.csv"  # synthetic two-row pool with a conflict
    path.write_text("formula,gfa\nCu50Zr50,1\nZr50Cu50,0\n")
    ans = ReplayOracle.from_csv(path).answer("Cu50Zr50")
    assert ans.result is SynthesisResult.AMORPHOUS
    assert [c["result"] for c in ans.provenance["conflicting_rows"]] == ["amorphous", "crystalline"]
