"""Adam, SGD and clipping against their formulas."""

import numpy as np

from sklstm._optimizers import AdamOptimizer, SGDOptimizer, clip_by_global_norm


def test_adam_matches_the_paper(rng):
    p = rng.normal(size=5)
    grads = [rng.normal(size=5) for _ in range(3)]
    opt = AdamOptimizer([p], learning_rate_init=0.1)
    expected, m, v = p.copy(), np.zeros(5), np.zeros(5)
    for t, g in enumerate(grads, start=1):
        opt.update([p], [g.copy()])  # the gradient serves as scratch
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        m_hat, v_hat = m / (1 - 0.9**t), v / (1 - 0.999**t)
        # the bias correction folded into the step, as in scikit-learn's MLP
        expected -= 0.1 * m_hat / (np.sqrt(v_hat) + 1e-8 / np.sqrt(1 - 0.999**t))
        np.testing.assert_allclose(p, expected, rtol=1e-12)


def test_sgd_momentum_and_nesterov(rng):
    g1, g2 = rng.normal(size=3), rng.normal(size=3)
    for nesterov in (False, True):
        p = np.zeros(3)
        opt = SGDOptimizer([p], learning_rate_init=0.5, momentum=0.9, nesterov=nesterov)
        opt.update([p], [g1])
        opt.update([p], [g2])
        v1 = -0.5 * g1
        v2 = 0.9 * v1 - 0.5 * g2
        if nesterov:
            expected = (0.9 * v1 - 0.5 * g1) + (0.9 * v2 - 0.5 * g2)
        else:
            expected = v1 + v2
        np.testing.assert_allclose(p, expected, rtol=1e-12)


def test_clip_by_global_norm():
    grads = [np.array([3.0, 0.0]), np.array([[4.0]])]
    assert clip_by_global_norm(grads, 1.0) == 5.0
    np.testing.assert_allclose(grads[0], [0.6, 0.0])
    np.testing.assert_allclose(grads[1], [[0.8]])
    small = [np.array([0.1])]
    clip_by_global_norm(small, 1.0)
    np.testing.assert_array_equal(small[0], [0.1])
    clip_by_global_norm(grads, None)  # off
