"""Sightlog: a self-hostable datastore for vision events."""

__version__ = "0.1.0"
