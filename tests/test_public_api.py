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


def test_dsp_loads_its_engines_on_first_use() -> None:
    """``dsp``'s names resolve lazily (PEP 562): the map covers exactly ``__all__``, and importing
    ``dsp.errors`` (as the server's error handling does) loads neither NumPy nor SciPy."""
    import subprocess
    import sys

    assert sorted(dsp._EXPORTS) == sorted(dsp.__all__)
    assert all(getattr(dsp, name).__name__ == name for name in dsp.__all__)
    code = "import sys, dsp.errors; print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'scipy')))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert r.stdout.strip() == "[]"
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = dsp.nothing_here
