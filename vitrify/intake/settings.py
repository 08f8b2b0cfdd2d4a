"""Intake server settings (``VITRIFY_INTAKE_*`` environment variables or ``.env``)."""

from __future__ import annotations

import ipaddress

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IntakeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VITRIFY_INTAKE_", env_file=".env", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Address the server binds to. Loopback unless you mean to expose it.")
    port: int = Field(default=8765, ge=0, le=65535)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
