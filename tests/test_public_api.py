"""Every module declares its public surface with ``__all__``, and every listed name exists."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import app
import dsp

MODULES = sorted(
    m.name
    for pkg in (app, dsp)
    for m in pkgutil.walk_packages(pkg.__path__, prefix=f"{pkg.__name__}.")
    if not m.name.rsplit(".", 1)[-1].startswith("_") and m.name != "dsp.__main__"
)


@pytest.mark.parametrize("name", MODULES)
def test_module_all_is_declared_and_resolves(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    if name.endswith(("__init__",)) or (
        exported is None
        and not any(
            callable(v) and getattr(v, "__module__", "") == name and not k.startswith("_")
            for k, v in vars(module).items()
        )
    ):
        pytest.skip("no public definitions")
    assert exported is not None, f"{name} defines public names but no __all__"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ lists names it does not define: {missing}"
