"""vitrify: active-learning campaigns that discover metallic glasses (CLI, settings, shipped data)."""

__version__ = "0.1.0"
