"""Products and sums of the training step in one fixed order.

BLAS (behind numpy's ``@``, ``np.dot`` and ``np.vdot``) splits a product
differently at different thread counts, so its bits change with
``threadpool_limits``; these do not, and ``fit`` gives the same
``loss_curve_`` and weights under any thread limit (the recurrent kernels
already do: see ``sklstm/_core/_lstm.pyx``).
"""

import numpy as np

from ._core import _lstm

__all__ = ["dot", "matmul", "sum_of_squares"]


def matmul(A, B):
    """``A @ B`` for 2-D float arrays of one dtype, in a fixed order."""
    A = np.ascontiguousarray(A)
    B = np.ascontiguousarray(B, dtype=A.dtype)
    out = np.empty((A.shape[0], B.shape[1]), dtype=A.dtype)
    _lstm.matmul(A, B, out)
    return out


def dot(a, b):
    """``a · b`` of two 1-D arrays, as a Python float (numpy's einsum loops run
    on one thread and never call BLAS)."""
    return float(np.einsum("i,i->", a, b))


def sum_of_squares(a):
    """``‖a‖²`` of an array of any shape, as a Python float."""
    a = a.ravel()
    return float(np.einsum("i,i->", a, a))
