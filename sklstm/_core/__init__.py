"""Compiled CPU kernels of sklstm (Cython, nogil). Callers validate; kernels trust.

The OpenMP runtime starts in passive mode (``OMP_WAIT_POLICY=PASSIVE``)
unless the environment already says how its threads should wait: a thread
with no work then sleeps at once instead of spinning. GNU OpenMP spins for
some milliseconds by default, and on a machine whose cores are all busy
those spins took the time slices of the threads that still had work (a
kernel call on two cores with one other process running took 5-60 times as
long as on one thread). The setting is read once, when the runtime loads
with the first of these modules, and the environment is restored at once;
if another library loaded the same runtime earlier, its setting stands (set
``OMP_WAIT_POLICY=PASSIVE`` before starting Python to have it anyway).
"""

import os

_WAIT_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def _load_runtime_passive():
    if any(name in os.environ for name in _WAIT_SETTINGS):
        from . import _math  # noqa: F401
        return
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        from . import _math  # noqa: F401
    finally:
        del os.environ["OMP_WAIT_POLICY"]


_load_runtime_passive()
