"""Fixtures shared by every test package."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A freshly seeded generator: every test sees the same 'random' numbers."""
    return np.random.default_rng(20261122)
