"""Build hook for the one C extension; everything else is in pyproject.toml.

``dsp._recursions`` holds the per-frame recursions of the noise reducer (see
``dsp/_kernels.py``). It is optional: without a C compiler the build goes on and the numpy
forms of the same recursions run. ``-O3 -fno-trapping-math`` lets the compiler vectorise the
gain rule's loop (its selects may then evaluate both sides; no result changes, as no
floating-point exception is ever read); nothing here reorders arithmetic (no ``-ffast-math``).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "dsp._recursions", ["dsp/_recursions.c"], optional=True, extra_compile_args=["-O3", "-fno-trapping-math"]
        )
    ]
)
