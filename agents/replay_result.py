"""The result of a replay (what ``vitrify replay`` reports, docs/replay.md): the discovery
curve per seed beside random and oracle, the acceleration and enhancement factors
(discovery.replay_metrics), and its ``summary.json`` and plot."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agents.config import AgentConfig
from agents.replay import ReplayPool
from discovery.replay_metrics import acceleration_factor, enhancement_factor, oracle_found, random_expected_found


# ===================================================================== metrics (pure)


# ===================================================================== pool


# ===================================================================== result


@dataclass
class ReplayResult:
    pool: ReplayPool
    agent: AgentConfig
    budget: int
    batch: int
    picks: list[int]
    agent_curves: list[list[int]]  # per seed
    random_simulated: list[list[int]]
    final_auc: list[float]
    seconds: float
    settings: dict
    picked: list[list[str]] = field(default_factory=list)  # per seed, canonical names in pick order

    @property
    def found_agent(self) -> list[float]:
        return np.mean(np.asarray(self.agent_curves, dtype=float), axis=0).tolist()

    @property
    def found_random(self) -> list[float]:
        return random_expected_found(self.picks, len(self.pool), self.pool.n_glass).tolist()

    @property
    def found_oracle(self) -> list[int]:
        return oracle_found(self.picks, self.pool.n_glass).astype(int).tolist()

    def summary(self) -> dict:
        n, g = len(self.pool), self.pool.n_glass
        agent = self.found_agent
        af = acceleration_factor(self.picks, agent, n, g)
        ef = enhancement_factor(agent[-1], self.picks[-1], n, g)
        aucs = [a for a in self.final_auc if np.isfinite(a)]

        def num(x):
            return None if x is None or not np.isfinite(x) else round(float(x), 4)

        return {
            "budget": self.budget,
            "batch": self.batch,
            "picks": list(self.picks),
            "found": {
                "agent": [round(v, 4) for v in agent],
                "random": [round(v, 4) for v in self.found_random],
                "oracle": self.found_oracle,
            },
            "acceleration_factor": num(af),
            "enhancement_factor": num(ef),
            "final_roc_auc": num(np.mean(aucs)) if aucs else None,
            "agent": self.agent.model_dump(),  # the resolved preset (agents.config.AGENT_PRESETS)
            "seeds": len(self.agent_curves),
            "found_per_seed": {"agent": self.agent_curves},
            "random_simulated": {
                "mean": np.mean(np.asarray(self.random_simulated, dtype=float), axis=0).round(4).tolist(),
                "per_seed": self.random_simulated,
            },
            "random_method": "analytic: hypergeometric expectation m*G/N (AF uses the negative-hypergeometric "
                             "mean r*(N+1)/(G+1)); random_simulated = seeded uniform picks, for reference",
            "final_roc_auc_per_seed": [num(a) for a in self.final_auc],
            "picked_per_seed": self.picked,
            "oracle_fraction": num(agent[-1] / self.found_oracle[-1]) if self.found_oracle[-1] else None,
            "pool": {"source": self.pool.source, "size": n, "glasses": g, "systems": self.pool.system_names(),
                     "campaign_route": self.pool.campaign_route, **self.pool.stats},
            "seconds": round(self.seconds, 2),
            **self.settings,
        }


def write_outputs(result: ReplayResult, out_dir: str | Path) -> tuple[Path, Path]:
    """``out_dir/summary.json`` and ``out_dir/discovery.png``."""
    from discovery.plots import plot_discovery_curves

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = result.summary()
    path = out / "summary.json"
    path.write_text(json.dumps(summary, indent=2) + "\n")
    png = plot_discovery_curves(
        result.picks,
        {f"agent ({result.agent.name})": result.found_agent, "random": result.found_random, "oracle": result.found_oracle},
        out / "discovery.png",
        title=f"Replay on {result.pool.source}: glasses found",
    )
    return path, png
