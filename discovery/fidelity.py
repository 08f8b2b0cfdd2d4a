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
        mean, std, _ = self._fuse(matrix.canonical_names(), target, mean, std, None)
        return mean, std

    def _fuse(self, names: list[str], target: str, mean: np.ndarray, std: np.ndarray,
              members: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Inverse-variance fusion of the model's (mean, std) with the bias-corrected MD value
        at every simulated composition. The ensemble members of a fused column are moved and
        shrunk to the fused mean and spread, so Thompson sampling and hypervolume improvement
        keep drawing from members (other columns' members are left as they are)."""
        mean, std = mean.copy(), std.copy()
        members = None if members is None else members.copy()
        for i, name in enumerate(names):
            md = self.md_values.get(name)
            if md is None or md.get(target) is None or not np.isfinite(mean[i]):
                continue
            corrected = md[target] - self.bias_[target]
            var_md = max(self.bias_std_[target], 1e-6) ** 2
            var_model = max(std[i], 1e-6) ** 2
            w = var_model / (var_model + var_md)
            fused_mean = (1 - w) * mean[i] + w * corrected
            fused_std = np.sqrt(var_model * var_md / (var_model + var_md))
            if members is not None:
                members[:, i] = fused_mean + (members[:, i] - mean[i]) * (fused_std / max(std[i], 1e-6))
            mean[i], std[i] = fused_mean, fused_std
        return mean, std, members

    def predict_properties(self, matrix: CompositionMatrix, *, base=None, stats=None) -> dict:
        """The base model's properties with E, G, K corrected where MD results exist (the
        base model's predictions are reused, not computed again)."""
        from discovery.modulus import PROPERTY_NAMES
        from discovery.properties import Prediction

        out = self.base.predict_properties(matrix, base=base, stats=stats)
        names = None
        for target, name in PROPERTY_NAMES.items():
            if target in self.bias_ and name in out:
                names = matrix.canonical_names() if names is None else names
                pred = out[name]
                out[name] = Prediction(*self._fuse(names, target, pred.mean, pred.std, pred.members))
        return out

    def descriptor(self, canonical: str) -> dict[str, float]:
        return self.descriptors.get(canonical, {})
