"""Row-major BLAS for the kernels, from ``scipy.linalg.cython_blas``.

Fortran BLAS is column-major: a row-major ``C = op(A) @ op(B)`` is the
column-major ``C^T = op(B)^T @ op(A)^T``, so each wrapper swaps its operands.
"""
from scipy.linalg.cython_blas cimport dgemm, sgemm

from ._typedefs cimport float32_t, float64_t, floating


cdef void _gemm(
    bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
    const floating* A, int lda, const floating* B, int ldb,
    floating beta, floating* C, int ldc,
) noexcept nogil:
    """C := alpha*op(A)@op(B) + beta*C, row-major; op(A) is (m, k), op(B) is (k, n)."""
    cdef char ta = b"T" if trans_a else b"N"
    cdef char tb = b"T" if trans_b else b"N"
    if m == 0 or n == 0:
        return
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*>B, &ldb, <float*>A, &lda,
              &beta, C, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*>B, &ldb, <double*>A, &lda,
              &beta, C, &ldc)


def _py_gemm(floating[:, ::1] A, floating[:, ::1] B, floating[:, ::1] C,
             bint trans_a=False, bint trans_b=False, floating alpha=1, floating beta=0):
    """Test twin of ``_gemm``: C := alpha*op(A)@op(B) + beta*C on 2-D arrays."""
    cdef int m = C.shape[0], n = C.shape[1]
    cdef int k = A.shape[0] if trans_a else A.shape[1]
    _gemm(trans_a, trans_b, m, n, k, alpha, &A[0, 0], A.shape[1], &B[0, 0],
          B.shape[1], beta, &C[0, 0], C.shape[1])
