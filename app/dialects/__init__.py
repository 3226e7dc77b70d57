"""Vendor dialects: thin adapters from each vendor's HTTP API onto the job core."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.dialects._common import Dialect

__all__ = ["DIALECT_MODULES", "available_dialects"]

#: Dialect modules mounted by the server, in routing order, with the vendor API each speaks and
#: its path prefixes (so an API whose module is not in this build can answer that it is not).
DIALECT_MODULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "deepaffects": ("DeepAffects", ("/audio/generic/api/v1",)),
    "audo": ("Audo AI", ("/v1",)),
    "wondershare": ("Wondershare click-noise removal", ("/v3/pic/ecr",)),
    "audiocleaner": ("AudioCleaner.ai enhance", ("/audio/api/v1/api-keys/enhance",)),
}


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
