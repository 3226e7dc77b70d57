"""Hush: a self-hosted audio clean-up server that speaks four vendors' HTTP APIs."""

__all__ = ["__version__"]

__version__ = "0.1.0"
