"""Ray connection for workers: local Ray by default, a cluster when RAY_ADDRESS is set."""

from __future__ import annotations

import logging
import os

from vitrify.settings import get_settings, quiet_third_party_defaults


class RayUnavailable(RuntimeError):
    """Ray could not be reached or started; the message names the setting behind it."""


def configured_ray_address() -> str | None:
    """The cluster to connect to (``RAY_ADDRESS``), or None for local Ray."""
    return get_settings().ray_address or os.environ.get("RAY_ADDRESS")


def ensure_ray(warm_modules: tuple[str, ...] = ()) -> None:
    """Connect once per process. Local Ray stays on loopback with a capped object store.

    ``warm_modules`` are imported, in the background, by one worker per CPU right after
    connecting: a worker's first task otherwise pays those imports (seconds for
    pymatgen/matplotlib) in the middle of a campaign iteration."""
    import ray

    if ray.is_initialized():
        return
    quiet_third_party_defaults()
    settings = get_settings()
    address = configured_ray_address()
    if address:
        try:
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False, logging_level=logging.WARNING)
        except Exception as exc:  # a typo in the address is the user's, not a crash of ours
            raise RayUnavailable(f"RAY_ADDRESS={address!r}: cannot connect to Ray ({_reason(exc)})") from exc
        _warm(warm_modules)
        return
    try:
        ray.init(
            num_cpus=settings.ray_num_cpus,
            include_dashboard=False,
            object_store_memory=settings.ray_object_store_bytes,
            ignore_reinit_error=True,
            log_to_driver=False,
            logging_level=logging.WARNING,  # no "Started a local Ray instance." in another log format
            # workers import vitrify from the same checkout / environment as the driver
            runtime_env={"env_vars": {k: v for k, v in os.environ.items() if k.startswith("VITRIFY_")}},
        )
    except Exception as exc:
        raise RayUnavailable(f"local Ray did not start ({_reason(exc)}); set RAY_ADDRESS to use a running cluster") from exc
    _warm(warm_modules)


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _warm(warm_modules: tuple[str, ...]) -> None:
    import ray

    if warm_modules:
        warm = ray.remote(num_cpus=1)(_import_modules)  # one CPU each: they land on distinct workers
        for _ in range(max(1, int(ray.cluster_resources().get("CPU", 1)))):
            warm.remote(tuple(warm_modules))


def _import_modules(modules: tuple[str, ...]) -> None:
    import importlib

    for name in modules:
        importlib.import_module(name)
