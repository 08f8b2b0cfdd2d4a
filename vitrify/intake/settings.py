"""Intake server helpers (its settings, ``VITRIFY_INTAKE_*``, live in vitrify.settings)."""

from __future__ import annotations

import ipaddress

from vitrify.settings import IntakeSettings  # noqa: F401  (one settings module)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
