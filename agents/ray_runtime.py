"""Ray connection for workers: local Ray by default, a cluster when RAY_ADDRESS is set."""

from __future__ import annotations

import os

from vitrify.settings import get_settings, quiet_third_party_defaults


def ensure_ray() -> None:
    """Connect once per process. Local Ray stays on loopback with a capped object store."""
    import ray

    if ray.is_initialized():
        return
    quiet_third_party_defaults()
    settings = get_settings()
    address = settings.ray_address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    else:
        ray.init(
            num_cpus=settings.ray_num_cpus,
            include_dashboard=False,
            object_store_memory=settings.ray_object_store_bytes,
            ignore_reinit_error=True,
            log_to_driver=False,
            # workers import vitrify from the same checkout / environment as the driver
            runtime_env={"env_vars": {k: v for k, v in os.environ.items() if k.startswith("VITRIFY_")}},
        )
