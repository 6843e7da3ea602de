"""Persistence: the only package that imports SQLAlchemy or object-storage libraries."""
