"""The package as users get it: a wheel built from the source tree, installed
into a fresh virtual environment, imports every public module and ships its
data."""

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The public modules the wheel must have, whatever the walk finds besides.
REQUIRED = {"sklstm", "sklstm.datasets", "sklstm.functional", "sklstm.io",
            "sklstm.metrics", "sklstm.preprocessing"}

# Import names of optional dependencies: a public module may need one (and is
# then skipped where it is missing) or must import without it.
OPTIONAL = {"cupy", "dask", "distributed", "onnx", "onnxruntime", "pandas",
            "skops", "torch"}


def source_packages():
    """Every package under sklstm/ (a folder with an ``__init__.py``)."""
    return sorted(".".join(p.parent.relative_to(ROOT).parts)
                  for p in (ROOT / "sklstm").rglob("__init__.py"))


def test_every_subpackage_is_listed_in_pyproject():
    """``[tool.setuptools] packages`` is explicit: a subpackage missing from it
    is left out of the wheel (modules of a listed package need no entry)."""
    tomllib = pytest.importorskip("tomllib")
    with open(ROOT / "pyproject.toml", "rb") as f:
        listed = tomllib.load(f)["tool"]["setuptools"]["packages"]
    assert sorted(listed) == source_packages()


def _ignored(root):
    """A ``shutil.copytree`` ignore function for what ``.gitignore`` names
    (build outputs, compiled modules, generated C) and ``.git``: the copy is
    what a fresh clone holds, plus uncommitted work."""
    patterns = [line.strip() for line in (root / ".gitignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]

    def ignore(folder, names):
        relative = Path(folder).relative_to(root)
        out = {".git"} & set(names)
        for name in names:
            path = (relative / name).as_posix()
            for pattern in patterns:
                pattern = pattern.rstrip("/")
                target = path if "/" in pattern else name
                if fnmatch.fnmatch(target, pattern.lstrip("/")):
                    out.add(name)
        return out

    return ignore


# Run by the fresh environment's Python: import every public module found by
# walking the package, and load the shipped data sets.
CHILD = r"""
import importlib, importlib.util, json, pkgutil, sys
OPTIONAL = set(sys.argv[1].split(","))
import sklstm
imported, skipped = ["sklstm"], {}
for info in pkgutil.walk_packages(sklstm.__path__, "sklstm."):
    if any(part.startswith("_") for part in info.name.split(".")[1:]):
        continue  # private, or sklstm.__main__, which runs the demo
    try:
        importlib.import_module(info.name)
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if top not in OPTIONAL or importlib.util.find_spec(top) is not None:
            raise
        skipped[info.name] = top
        continue
    imported.append(info.name)
from sklstm._core import _lstm
from sklstm._cuda._sources import SOURCES, read_source
assert all("SK_GLOBAL" in read_source(source) for source in SOURCES)
from sklstm.datasets import load_airline, load_japanese_vowels, load_taylor
X, y = load_japanese_vowels(return_X_y=True)
series = {"airline": len(load_airline().data), "taylor": len(load_taylor().data)}
print(json.dumps({"prefix": sys.prefix, "sklstm": sklstm.__file__,
                  "kernels": _lstm.__file__, "imported": imported,
                  "skipped": skipped, "n_sequences": len(X),
                  "n_features": X[0].shape[1], "labels": sorted(set(y)),
                  "series": series}))
"""


def test_wheel_installs_and_imports_in_a_fresh_environment(tmp_path):
    """Build a wheel as ``pip wheel`` does, install it into a new virtual
    environment, and import every public module there.

    The cost is the build (the Cython extensions compile, ``_lstm`` for
    three instruction sets: about two minutes on two cores), so nothing else
    is paid for: no build isolation (setuptools, Cython and numpy come from
    this environment, and nothing is downloaded: ``--no-index``), no
    dependencies installed into the new environment (``--no-deps``); it sees
    this environment's site-packages through a ``.pth`` file, whose lines
    Python appends to ``sys.path`` after the environment's own
    site-packages, so that the wheel's sklstm is found first.
    """
    pytest.importorskip("setuptools")
    pytest.importorskip("Cython")
    timings = {}
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=_ignored(ROOT))
    assert not list(source.rglob("*.so")) and not (source / "build").exists()

    start = time.perf_counter()
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation",
                    "--no-deps", "--no-index", "--no-cache-dir", "-q",
                    "-w", str(dist), str(source)],
                   check=True, capture_output=True, text=True, timeout=1200)
    timings["build"] = time.perf_counter() - start
    (wheel,) = dist.glob("sklstm-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for package in source_packages():
        assert f"{package.replace('.', '/')}/__init__.py" in names
    assert "sklstm/datasets/data/JapaneseVowels.npz" in names
    assert "sklstm/datasets/data/forecasting_series.npz" in names
    from sklstm._cuda._sources import SOURCES

    for source in [*SOURCES, "prelude.cuh"]:  # the GPU backend's CUDA sources
        assert f"sklstm/_cuda/kernels/{source}" in names
    assert sum(n.startswith("sklstm/_core/_") and n.endswith((".so", ".pyd"))
               for n in names) == 4

    start = time.perf_counter()
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)],
                   check=True, capture_output=True, timeout=300)
    python = env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--no-deps", "--no-index", "-q", str(wheel)],
                   check=True, capture_output=True, text=True, timeout=600)
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = subprocess.run([str(python), "-I", "-c", where], check=True,
                          capture_output=True, text=True).stdout.strip()
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    ours |= {p for p in sys.path if Path(p).name in ("site-packages", "dist-packages")}
    (Path(site) / "_sklstm_test_parent.pth").write_text(
        "".join(f"{p}\n" for p in sorted(ours) if Path(p).is_dir()))
    timings["install"] = time.perf_counter() - start

    # -I: neither PYTHONPATH, the user's site-packages nor the current folder
    result = subprocess.run([str(python), "-I", "-c", CHILD, ",".join(OPTIONAL)],
                            cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    prefix = Path(found["prefix"]).resolve()
    assert prefix == env.resolve()
    for name in ("sklstm", "kernels"):
        assert Path(found[name]).resolve().is_relative_to(prefix), found[name]
    # sklstm.io imports without skops, which it needs only to save and load
    assert REQUIRED <= set(found["imported"]), found["skipped"]
    assert (found["n_sequences"], found["n_features"]) == (270, 12)
    assert found["labels"] == [str(k) for k in range(1, 10)]
    assert found["series"] == {"airline": 144, "taylor": 4032}
    print(f"wheel test: build {timings['build']:.1f} s, "
          f"venv and install {timings['install']:.1f} s")
