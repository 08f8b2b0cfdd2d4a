"""Two fidelities of Young's modulus: measurements (the ensemble of discovery.modulus,
trained on measured moduli only) and molecular dynamics (vitrify's own simulations).

MD moduli are never mixed into the training data as if they were measurements: classical
potentials have systematic biases (docs/md_validation.md: -2% to -36% on E). Instead a
correction model learns the MD-minus-model offset from every simulated composition, and
for a simulated composition the bias-corrected MD value is fused with the ensemble
prediction by inverse-variance weighting. Compositions never simulated keep the
ensemble's prediction. Simulated structure (icosahedral fraction, MD Tg) is exposed as
descriptors of the simulated compositions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from discovery.composition import CompositionMatrix


@dataclass
class MDCorrectedModulus:
    """A modulus model (``predict_target(matrix, target, base=None) -> (mean, std)``)
    corrected by MD results at the compositions that were simulated."""

    base: object
    md_values: dict[str, dict[str, float]] = field(default_factory=dict)  # canonical -> {"E": GPa, ...}
    descriptors: dict[str, dict[str, float]] = field(default_factory=dict)  # canonical -> icosahedral_fraction, Tg_md
    min_points: int = 3
    bias_: dict[str, float] = field(default_factory=dict)
    bias_std_: dict[str, float] = field(default_factory=dict)

    def fit(self) -> "MDCorrectedModulus":
        """Learn, per target, the mean and scatter of (MD - model) over the simulated compositions."""
        if not self.md_values:
            return self
        names = list(self.md_values)
        matrix = CompositionMatrix.from_formulas(names)
        for target in ("E", "G", "K"):
            have = [i for i, n in enumerate(names) if self.md_values[n].get(target) is not None]
            if len(have) < self.min_points:
                continue  # too few simulations to learn the offset: MD is not used for this target
            mean, _ = self.base.predict_target(matrix.take(have), target)
            md = np.array([self.md_values[names[i]][target] for i in have])
            ok = np.isfinite(mean)
            if ok.sum() < self.min_points:
                continue
            diff = md[ok] - mean[ok]
            self.bias_[target] = float(diff.mean())
            self.bias_std_[target] = float(diff.std(ddof=1))
        return self

    def predict_target(self, matrix: CompositionMatrix, target: str = "E", *, base=None) -> tuple[np.ndarray, np.ndarray]:
        mean, std = self.base.predict_target(matrix, target, base=base)
        if target not in self.bias_:
            return mean, std
        mean, std = mean.copy(), std.copy()
        simulated = set(self.md_values)
        names = matrix.canonical_names()
        for i, name in enumerate(names):
            if name in simulated and self.md_values[name].get(target) is not None and np.isfinite(mean[i]):
                corrected = self.md_values[name][target] - self.bias_[target]
                var_md = max(self.bias_std_[target], 1e-6) ** 2
                var_model = max(std[i], 1e-6) ** 2
                w = var_model / (var_model + var_md)
                mean[i] = (1 - w) * mean[i] + w * corrected
                std[i] = np.sqrt(var_model * var_md / (var_model + var_md))
        return mean, std

    def predict_properties(self, matrix: CompositionMatrix, *, base=None, stats=None) -> dict:
        """The base model's properties with E, G, K corrected where MD results exist."""
        from discovery.modulus import PROPERTY_NAMES
        from discovery.properties import Prediction

        out = self.base.predict_properties(matrix, base=base, stats=stats)
        for target, name in PROPERTY_NAMES.items():
            if target in self.bias_ and name in out:
                mean, std = self.predict_target(matrix, target, base=base)
                out[name] = Prediction(mean, std, None)
        return out

    def descriptor(self, canonical: str) -> dict[str, float]:
        return self.descriptors.get(canonical, {})
