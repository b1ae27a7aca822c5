"""Build of the compiled detector kernels (metadata lives in pyproject.toml)."""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [
            Extension(
                "detector._features",
                ["detector/_features.pyx"],
                # Bit-identical to the NumPy/SciPy reference: no fused multiply-add.
                extra_compile_args=["-O2", "-ffp-contract=off"],
            ),
            # Plain numeric CSV blocks read without the GIL (collector/csvio.py).
            Extension(
                "collector._csvparse",
                ["collector/_csvparse.pyx"],
                extra_compile_args=["-O2", "-ffp-contract=off"],
            ),
        ],
        language_level=3,
    )
)
