"""Alembic migrations of the store, shipped inside the package so an installed copy can migrate."""
