"""Alembic migrations of the SQL store; run by the observer, never by hand (but they can be)."""
