"""Vendor dialects: thin adapters from each vendor's HTTP API onto the job core."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.dialects._common import Dialect

__all__ = ["DIALECT_MODULES", "absent_dialects", "available_dialects"]

#: Dialect modules mounted by the server, in routing order, with the vendor API each speaks and
#: its path prefixes (so an API whose module is not in this build can answer that it is not).
DIALECT_MODULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "deepaffects": ("DeepAffects", ("/audio/generic/api/v1",)),
    "audo": ("Audo AI", ("/v1",)),
    "wondershare": ("Wondershare click-noise removal", ("/v3/pic/ecr",)),
    "audiocleaner": ("AudioCleaner.ai enhance", ("/audio/api/v1/api-keys/enhance",)),
}


def _load(name: str) -> Dialect | None:
    try:
        module = importlib.import_module(f"app.dialects.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"app.dialects.{name}":
            return None
        raise
    dialect: Dialect = module.DIALECT
    return dialect


def available_dialects() -> list[Dialect]:
    """The ``DIALECT`` record of every dialect module present in this build."""
    return [d for d in map(_load, DIALECT_MODULES) if d is not None]


def absent_dialects() -> list[tuple[str, tuple[str, ...]]]:
    """Vendor API name and path prefixes of every dialect module missing from this build."""
    return [api for name, api in DIALECT_MODULES.items() if _load(name) is None]
