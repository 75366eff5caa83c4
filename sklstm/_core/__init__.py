"""Compiled CPU kernels of sklstm (Cython, nogil). Callers validate; kernels trust."""
