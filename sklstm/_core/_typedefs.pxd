# Fixed-width type names used by every kernel (never a local DTYPE_t).
from numpy cimport float32_t, float64_t, intp_t, int32_t  # noqa: F401

ctypedef fused floating:
    float32_t
    float64_t
