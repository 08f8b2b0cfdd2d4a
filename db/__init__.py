"""SQLModel tables, sessions, Alembic migrations and the two crossings (ingestion, training sets)."""
