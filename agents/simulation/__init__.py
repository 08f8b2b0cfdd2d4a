"""Molecular-dynamics engine of vitrify: quenched-glass simulations with LAMMPS.

Public API (all importable without LAMMPS installed; LAMMPS is loaded on first run):

* :func:`run_simulation` -- composition + settings -> :class:`SimulationResult`
* :func:`select_potential` -- composition -> :class:`PotentialChoice` or None (not simulable)
* :class:`SimulationSettings` -- the protocol (``SimulationSettings()`` = production,
  ``SimulationSettings.test()`` = fast 256-atom preset)
"""

from .engine import (
    STATUS_FAILED,
    STATUS_NOT_SIMULABLE,
    STATUS_SUCCEEDED,
    SimulationResult,
    SimulationSettings,
    run_simulation,
)
from .potentials import PotentialChoice, select_potential, zhou_potential

__all__ = [
    "STATUS_FAILED",
    "STATUS_NOT_SIMULABLE",
    "STATUS_SUCCEEDED",
    "PotentialChoice",
    "SimulationResult",
    "SimulationSettings",
    "run_simulation",
    "select_potential",
    "zhou_potential",
]
