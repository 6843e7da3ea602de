"""The ``sightlog`` command line (Typer)."""
