"""Wire and domain models (pydantic, no I/O)."""
