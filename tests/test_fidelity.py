"""MD as a second fidelity of the modulus: a learned offset, inverse-variance fusion, and no
effect on compositions never simulated. The base model here is a real rule of mixtures of
pymatgen's elemental moduli (discovery.modulus); the MD values are synthetic test numbers."""

import numpy as np

from discovery.composition import CompositionMatrix
from discovery.fidelity import MDCorrectedModulus
from discovery.modulus import rule_of_mixtures


class RuleOfMixtures:
    def predict_target(self, matrix, target="E", *, base=None):
        mean = rule_of_mixtures(matrix, target)
        return mean, np.full(len(mean), 10.0)


def test_md_bias_is_learned_and_fused_only_where_simulated():
    base = RuleOfMixtures()
    simulated = ["Cu50Zr50", "Cu64Zr36", "Cu40Zr60", "Al10Cu45Zr45"]
    matrix = CompositionMatrix.from_formulas(simulated)
    rom = base.predict_target(matrix)[0]
    # synthetic MD values: the model's value minus a systematic 20 GPa, with +/- 2 GPa scatter
    md = {name: {"E": float(e - 20 + d)} for name, e, d in zip(simulated, rom, [2, -2, 1, -1])}
    model = MDCorrectedModulus(base, md, {"Cu50Zr50": {"icosahedral_fraction": 0.12}}).fit()
    assert abs(model.bias_["E"] + 20) < 1e-9 and model.bias_std_["E"] > 0

    query = CompositionMatrix.from_formulas(["Cu50Zr50", "Cu20Zr80"])
    mean, std = model.predict_target(query, "E")
    base_mean, base_std = base.predict_target(query, "E")
    # simulated: pulled to the bias-corrected MD value, more certain than either source
    corrected = md["Cu50Zr50"]["E"] + 20
    assert abs(mean[0] - corrected) < abs(base_mean[0] - corrected) + 1e-12
    assert std[0] < base_std[0]
    # never simulated: the measurement model's prediction, untouched
    assert mean[1] == base_mean[1] and std[1] == base_std[1]
    assert model.descriptor("Cu50Zr50") == {"icosahedral_fraction": 0.12}


def test_too_few_simulations_leave_the_model_alone():
    base = RuleOfMixtures()
    model = MDCorrectedModulus(base, {"Cu50Zr50": {"E": 60.0}}).fit()
    query = CompositionMatrix.from_formulas(["Cu50Zr50"])
    assert model.predict_target(query)[0][0] == base.predict_target(query)[0][0]


class RuleOfMixturesEnsemble(RuleOfMixtures):
    """Five members: the rule of mixtures shifted by -10..+10 GPa (synthetic spread)."""

    calls = 0

    def predict_target(self, matrix, target="E", *, base=None):
        members = self._members(matrix, target)
        return members.mean(axis=0), members.std(axis=0)

    def _members(self, matrix, target):
        return rule_of_mixtures(matrix, target)[None, :] + np.linspace(-10, 10, 5)[:, None]

    def predict_properties(self, matrix, *, base=None, stats=None):
        from discovery.properties import Prediction

        self.calls += 1
        return {"youngs_modulus_gpa": Prediction.from_members(self._members(matrix, "E"))}


def test_md_fused_properties_keep_their_members_and_reuse_the_base_prediction(monkeypatch):
    base = RuleOfMixturesEnsemble()
    simulated = ["Cu50Zr50", "Cu64Zr36", "Cu40Zr60", "Al10Cu45Zr45"]
    rom = rule_of_mixtures(CompositionMatrix.from_formulas(simulated), "E")
    md = {name: {"E": float(e - 20 + d)} for name, e, d in zip(simulated, rom, [2, -2, 1, -1])}
    model = MDCorrectedModulus(base, md).fit()
    query = CompositionMatrix.from_formulas(["Cu50Zr50", "Cu20Zr80"])
    mean, std = model.predict_target(query, "E")

    def no_second_prediction(*args, **kwargs):
        raise AssertionError("predict_properties must not predict the base model twice")

    monkeypatch.setattr(base, "predict_target", no_second_prediction)
    pred = model.predict_properties(query)["youngs_modulus_gpa"]
    assert base.calls == 1
    np.testing.assert_allclose(pred.mean, mean)
    np.testing.assert_allclose(pred.std, std)
    # members drawn by Thompson sampling / hypervolume improvement: the fused distribution
    # at the simulated composition, the base ensemble's elsewhere
    assert pred.members is not None and pred.members.shape == (5, 2)
    np.testing.assert_allclose(pred.members.mean(axis=0), mean)
    np.testing.assert_allclose(pred.members.std(axis=0), std)
    np.testing.assert_array_equal(pred.members[:, 1], base._members(query, "E")[:, 1])
