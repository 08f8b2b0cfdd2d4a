"""Prefect flows and tasks: thin wiring of discovery, agents and db."""
