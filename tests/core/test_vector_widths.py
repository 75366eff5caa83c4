"""The kernels' two vector widths (AVX-512 where the CPU has it, 32-byte
vectors otherwise or with SKLSTM_NO_AVX512=1) compute the same results."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from sklstm._core import _lstm

SCRIPT = """
import json, sys
import numpy as np
from sklstm.functional import gru_backward, gru_forward, lstm_backward, lstm_forward
from sklstm._core import _lstm

def run():
    rng = np.random.default_rng(0)
    results = {"bytes": _lstm._vector_bytes()}
    for dtype in (np.float32, np.float64):
        B, T, D, H = 13, 9, 7, 37
        X = rng.normal(size=(B, T, D)).astype(dtype)
        lengths = rng.integers(1, T + 1, size=B)
        d = rng.normal(size=(B, T, H)).astype(dtype)
        W = rng.normal(scale=0.4, size=(4 * H, D)).astype(dtype)
        U = rng.normal(scale=0.4, size=(4 * H, H)).astype(dtype)
        b = rng.normal(scale=0.4, size=4 * H).astype(dtype)
        P = rng.normal(scale=0.4, size=(3, H)).astype(dtype)
        out, _, cache = lstm_forward(X, W, U, b, lengths=lengths, peephole=P)
        grads = lstm_backward(cache, d)
        results[f"lstm-{dtype.__name__}"] = [out.tolist()] + [g.tolist() for g in grads]
        out, _, cache = gru_forward(X, W[: 3 * H], U[: 3 * H], b[: 3 * H],
                                    b[H:], lengths=lengths, reverse=True)
        grads = gru_backward(cache, d)
        results[f"gru-{dtype.__name__}"] = [out.tolist()] + [g.tolist() for g in grads]
    return results

json.dump(run(), sys.stdout)
"""


def _run(env_extra):
    env = {**os.environ, **env_extra}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True,
                          text=True, env=env, check=True)
    return json.loads(done.stdout)


@pytest.mark.skipif(_lstm._vector_bytes() == 32,
                    reason="this CPU has no AVX-512: one vector width only")
def test_both_widths_agree():
    wide, narrow = _run({"SKLSTM_NO_AVX512": "0"}), _run({"SKLSTM_NO_AVX512": "1"})
    assert wide.pop("bytes") == 64 and narrow.pop("bytes") == 32
    for key in wide:
        rtol = 1e-6 if key.endswith("float32") else 1e-13
        for a, b in zip(wide[key], narrow[key]):
            np.testing.assert_allclose(np.array(a, dtype=float),
                                       np.array(b, dtype=float), rtol=rtol,
                                       atol=rtol, err_msg=key)


def test_the_switch_selects_the_narrow_width():
    assert _run({"SKLSTM_NO_AVX512": "1"})["bytes"] == 32
