"""Vendor dialects: thin adapters from each vendor's HTTP API onto the job core."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.dialects._common import Dialect

__all__ = ["DIALECT_MODULES", "available_dialects"]

#: Dialect modules mounted by the server, in routing order.
DIALECT_MODULES = ("deepaffects", "audo", "wondershare", "audiocleaner")


def available_dialects() -> list[Dialect]:
    """The ``DIALECT`` record of every dialect module present in this build."""
    found = []
    for name in DIALECT_MODULES:
        try:
            module = importlib.import_module(f"app.dialects.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"app.dialects.{name}":
                continue
            raise
        found.append(module.DIALECT)
    return found
