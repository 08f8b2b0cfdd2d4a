"""Potential selection and checks of potentials and of the elastic-constant routine in LAMMPS."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agents.simulation import (
    STATUS_NOT_SIMULABLE,
    SimulationSettings,
    run_simulation,
    select_potential,
    zhou_potential,
)
from agents.simulation import engine, zhou
from agents.simulation._lammps import lammps_potential_dir, new_lammps
from discovery.composition import parse_composition


@pytest.mark.parametrize(
    "formula, name, style",
    [
        ("Cu50Zr50", "CuZr_mm.eam.fs", "eam/fs"),
        ("Cu64Zr36", "CuZr_mm.eam.fs", "eam/fs"),
        ("Al10Cu90", "AlCu.eam.alloy", "eam/alloy"),
        ("Ni75Al25", "NiAlH_jea.eam.alloy", "eam/alloy"),
        ("Cu50Ni50", "CuNi.eam.alloy", "eam/alloy"),
        ("Co70Al30", "CoAl.eam.alloy", "eam/alloy"),
        ("Fe80P20", "FeP_mm.eam.fs", "eam/fs"),
        ("Al5Cu50Zr45", "Zhou04_AlCuZr.eam.alloy", "eam/alloy"),
        ("Zr55Cu30Al10Ni5", "Zhou04_AlCuNiZr.eam.alloy", "eam/alloy"),
        ("Pd40Ni40Cu0Fe20", "Zhou04_FeNiPd.eam.alloy", "eam/alloy"),
    ],
)
def test_select_potential(formula, name, style):
    choice = select_potential(parse_composition(formula))
    assert choice is not None and choice.name == name and choice.pair_style == style
    assert set(parse_composition(formula).elements) <= set(choice.elements)


@pytest.mark.parametrize("formula", ["Cu47Zr45Be8", "Fe80B20", "Pd40Ni40P20", "La55Al25Ni20"])
def test_not_simulable_is_a_status_not_a_crash(formula, tmp_path):
    comp = parse_composition(formula)
    assert select_potential(comp) is None
    result = run_simulation(comp, SimulationSettings.test(), tmp_path)
    assert result.status == STATUS_NOT_SIMULABLE
    assert "Zhou 2004" in result.reason
    d = json.loads(json.dumps(result.to_dict()))
    assert d["status"] == "not simulable" and d["settings"]["n_atoms"] == 256
    assert d["composition"] == comp.canonical


def _fcc_elastic(potential_file, element, a0, tmp_path):
    """fcc crystal, zero-stress box, then the engine's +/- strain routine."""
    lmp = new_lammps(1, None)
    try:
        lmp.commands_string(
            f"""
            units metal
            atom_style atomic
            atom_modify map array
            lattice fcc {a0 * 1.01}
            region b block 0 3 0 3 0 3
            create_box 1 b
            create_atoms 1 box
            pair_style eam/alloy
            pair_coeff * * {potential_file} {element}
            change_box all triclinic
            fix r all box/relax tri 0.0
            minimize 0 1e-10 1000 10000
            unfix r
            minimize 0 1e-12 1000 10000
            """
        )
        n = lmp.get_natoms()
        a = (lmp.get_thermo("vol") / n * 4) ** (1 / 3)
        ec = lmp.get_thermo("pe") / n
        run = engine._Run(lmp, tmp_path)
        x0, _ = run.positions_types()
        lo, hi, tilt = run.box()
        C, report = engine._elastic_constants(run, SimulationSettings.test(), x0, lo, hi, tilt, n)
    finally:
        lmp.close()
    return a, ec, C, report


def test_elastic_routine_reproduces_mishin_cu(tmp_path):
    """Mishin et al. 2001 fitted C11, C12, C44 = 169.9, 122.6, 76.2 GPa exactly."""
    a, ec, C, report = _fcc_elastic(lammps_potential_dir() / "Cu_mishin1.eam.alloy", "Cu", 3.615, tmp_path)
    assert a == pytest.approx(3.615, abs=1e-3)
    assert ec == pytest.approx(-3.54, abs=1e-3)
    assert C[0, 0] == pytest.approx(169.9, abs=0.5)
    assert C[0, 1] == pytest.approx(122.6, abs=0.5)
    assert C[3, 3] == pytest.approx(76.2, abs=0.5)
    assert np.abs(C - C.T).max() < 0.1
    assert all(c["linear"] for c in report["components"].values())


@pytest.mark.parametrize("element, a_exp, ec_exp", [("Cu", 3.615, -3.54), ("Al", 4.050, -3.58), ("Ni", 3.520, -4.45)])
def test_generated_zhou_fcc_lattice_constant_and_cohesive_energy(element, a_exp, ec_exp, tmp_path):
    path = zhou.generate([element], tmp_path)
    a, ec, C, _ = _fcc_elastic(path, element, a_exp, tmp_path)
    assert a == pytest.approx(a_exp, abs=2e-3)
    assert a == pytest.approx(zhou.load_parameters()[element].lattice_constant, abs=2e-4)
    assert ec == pytest.approx(ec_exp, abs=0.01)
    if element == "Cu":  # Zhou's own CuTa file gives the same Cu to float32 precision
        assert C[0, 0] == pytest.approx(169.6, abs=1.0)
        assert C[0, 1] == pytest.approx(122.1, abs=1.0)
        assert C[3, 3] == pytest.approx(75.7, abs=1.0)


def test_zhou_potential_loads_for_five_metals(tmp_path):
    choice = zhou_potential(["Zr", "Cu", "Ni", "Al", "Ti"])
    path = choice.materialize(tmp_path)
    lmp = new_lammps(1, None)
    try:
        lmp.commands_string(
            f"""
            units metal
            atom_style atomic
            region b block 0 14 0 14 0 14
            create_box 5 b
            create_atoms 1 random 30 1 NULL overlap 2.2
            create_atoms 2 random 30 2 NULL overlap 2.2
            create_atoms 3 random 30 3 NULL overlap 2.2
            create_atoms 4 random 30 4 NULL overlap 2.2
            create_atoms 5 random 30 5 NULL overlap 2.2
            pair_style eam/alloy
            pair_coeff * * {path} Al Cu Ni Ti Zr
            minimize 0 1e-6 200 2000
            """
        )
        pe = lmp.get_thermo("pe") / lmp.get_natoms()
    finally:
        lmp.close()
    assert -6.5 < pe < -3.0
