"""Build the Cython extensions of sklstm; all metadata lives in pyproject.toml."""

import os
import sys
import tempfile
import textwrap

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

debug = os.environ.get("SKLSTM_CYTHON_DEBUG", "0") != "0"
directives = {
    "language_level": 3,
    "boundscheck": debug,
    "wraparound": debug,
    "initializedcheck": debug,
    "cdivision": not debug,
}

CORE = os.path.join("sklstm", "_core")
MODULES = ["_ctc", "_lstm", "_math", "_step"]


def _openmp_flags(compiler_type):
    """Compile and link flags for OpenMP on this platform, the one place they live."""
    if compiler_type == "msvc":
        return ["/openmp"], []
    if sys.platform == "darwin":
        return ["-Xpreprocessor", "-fopenmp"], ["-lomp"]
    return ["-fopenmp"], ["-fopenmp"]


def _compiles_with(compiler, compile_args, link_args):
    """Whether a small OpenMP program compiles and links with these flags."""
    source = textwrap.dedent(
        """
        #include <omp.h>
        int main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }
        """
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "check_openmp.c")
        with open(path, "w") as f:
            f.write(source)
        try:
            objects = compiler.compile(
                [path], output_dir=tmp, extra_postargs=compile_args
            )
            compiler.link_executable(
                objects, "check_openmp", output_dir=tmp, extra_postargs=link_args
            )
        except Exception:
            return False
    return True


class BuildExt(build_ext):
    """Add OpenMP where the compiler supports it; build without it otherwise.

    The extensions compile side by side, on as many jobs as there are cores
    unless ``-j N`` or ``SKLSTM_BUILD_JOBS=N`` says otherwise: ``_lstm``,
    whose micro-kernel is compiled for three instruction sets, takes most of
    the time, and the other two finish beside it (2 cores: 140 s of
    compiling in all, 117 s of it ``_lstm``)."""

    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:
            jobs = os.environ.get("SKLSTM_BUILD_JOBS")
            self.parallel = int(jobs) if jobs else (os.cpu_count() or 1)

    def build_extensions(self):
        ctype = self.compiler.compiler_type
        compile_args, link_args = _openmp_flags(ctype)
        use_openmp = os.environ.get("SKLSTM_NO_OPENMP", "0") == "0" and _compiles_with(
            self.compiler, compile_args, link_args
        )
        if not use_openmp:
            print("sklstm: building without OpenMP; kernels will run on one thread.")
        optimize = ["/O2"] if ctype == "msvc" else ["-O3"]
        for ext in self.extensions:
            ext.extra_compile_args = optimize + (compile_args if use_openmp else [])
            ext.extra_link_args = link_args if use_openmp else []
        super().build_extensions()


extensions = [
    Extension(
        f"sklstm._core.{name}",
        [os.path.join(CORE, f"{name}.pyx")],
        include_dirs=[np.get_include(), os.path.join(CORE, "src")],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
    )
    for name in MODULES
]

setup(
    ext_modules=cythonize(extensions, compiler_directives=directives),
    cmdclass={"build_ext": BuildExt},
)
