"""The HTTP layer: the only package that imports FastAPI. Handlers parse, call a service, render."""
