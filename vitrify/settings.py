"""The settings of every process (CLI, flows, Ray workers, the intake server), in one module.

This module imports nothing of the project, so every layer may read it. ``Settings`` (prefix
``VITRIFY_``) is the main object; ``LabSettings`` (``VITRIFY_LAB_``, the lab's guardrails) and
``IntakeSettings`` (``VITRIFY_INTAKE_``) are read where they are used.

Everything that differs between a laptop and production is an environment variable
(prefix ``VITRIFY_``) or a ``.env`` file: never an edit to the code.

Embedded defaults: a SQLite file in the data directory, a local Ray started on demand,
Prefect's local API. Production: ``VITRIFY_DATABASE_URL=postgresql+psycopg://...``,
``RAY_ADDRESS=ray://head:10001`` (or ``auto``), ``PREFECT_API_URL=http://prefect:4200/api``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SHIPPED_DATA_DIR = Path(__file__).resolve().parent / "data"
# the shipped literature lives with the science (discovery/data/literature); this module imports no project code
LITERATURE_DIR = Path(__file__).resolve().parents[1] / "discovery" / "data" / "literature"
SHIPPED_BINARY_DATA = LITERATURE_DIR / "sun2017_binary" / "glass_binary_v2.csv"
# The largest row id any channel accepts (PostgreSQL's integer columns; SQLite would take 2**63-1):
# one bound everywhere, so an id that fits one database fits the other.
MAX_ID = 2**31 - 1


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VITRIFY_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("vitrify")),
        description="Where the embedded SQLite database, model artifacts and plots live.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL. Default: sqlite:///<data_dir>/vitrify.db. "
        "PostgreSQL: postgresql+psycopg://user:password@host:5432/vitrify",
    )
    ray_address: str | None = Field(
        default=None,
        validation_alias="RAY_ADDRESS",
        description="Ray cluster address (ray://host:10001 or 'auto'); unset = local Ray.",
    )
    ray_num_cpus: int | None = Field(default=None, description="CPUs for a local Ray (default: all).")
    ray_object_store_bytes: int = Field(default=256 * 1024**2, description="Local Ray object store cap.")
    optuna_trials: int = Field(default=5, description="Optuna trials per retraining (studies continue across retrains).")
    optuna_timeout_s: float = Field(default=20.0, description="Wall-time budget of one retraining's Optuna search.")
    retrain_cv: bool = Field(default=True, description="Grouped-CV metrics at every retraining (costs ~2 extra fits).")
    training_literature_rows: int | None = Field(
        default=None, ge=100,
        description="At most this many literature rows in a campaign's GFA training set: a sample stratified by "
        "route and label, seeded by the campaign's seed (the campaign's own results are always kept). "
        "Unset = all of them. For quick trial campaigns and the test suite: a retrain on the whole table "
        "takes tens of seconds.",
    )
    seed: int = 0

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'vitrify.db').as_posix()}"

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def plots_dir(self) -> Path:
        return self.data_dir / "plots"


class LabSettings(BaseSettings):
    """Lab guardrails, from ``VITRIFY_LAB_*`` environment variables (or ``.env``)."""

    model_config = SettingsConfigDict(env_prefix="VITRIFY_LAB_", env_file=".env", extra="ignore")

    budget_per_night: int | None = Field(
        default=None, ge=0, description="Most experiment jobs released to the lab queue per night (all campaigns); unset = no limit."
    )
    require_approval: bool = Field(default=False, description="Batches wait for an operator's approval before the lab sees them.")
    night_starts_hour: int = Field(default=12, ge=0, le=23, description="Local hour at which a lab night (a 24 h budget window) begins.")
    timezone: str = Field(default="UTC", description="Time zone of the lab, for night_starts_hour (e.g. Europe/Berlin).")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


def lab_settings() -> LabSettings:
    """Read fresh each call: the lab may change its guardrails while a server runs."""
    return LabSettings()



class IntakeSettings(BaseSettings):
    """The intake server (``VITRIFY_INTAKE_*``)."""

    model_config = SettingsConfigDict(env_prefix="VITRIFY_INTAKE_", env_file=".env", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Address the server binds to. Loopback unless you mean to expose it.")
    port: int = Field(default=8765, ge=0, le=65535)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def reset_settings_cache() -> None:
    """For tests and long-lived processes that change the environment."""
    get_settings.cache_clear()


def quiet_third_party_defaults() -> None:
    """Environment defaults that keep the embedded stack on loopback and off telemetry.

    Only fills variables the user has not set.
    """
    for key, value in {
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # the first start of Prefect's local server creates its database; on a busy
        # 2-core machine that can exceed Prefect's 20 s default
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "RAY_USAGE_STATS_ENABLED": "0",
        # binds and advertises 127.0.0.1 only for a local Ray (stack-notes.md)
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_AUTH_MODE": "disabled",
    }.items():
        if key not in os.environ:
            os.environ[key] = value
