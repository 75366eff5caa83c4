"""scikit-learn's own estimator checks, over both sequence estimators."""

import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklstm import LSTMClassifier, LSTMRegressor

# Minibatch training cannot make a sample of weight 2 equal to two copies
# of it (they land in different batches), nor zero weights equal to removal.
SAMPLE_WEIGHT_REASON = (
    "minibatch training: a weight of k is not k copies of a sample, which would "
    "land in other minibatches"
)


def _instances():
    # Small networks, enough epochs to pass the checks' accuracy thresholds.
    common = dict(hidden_layer_sizes=(8,), max_iter=60, random_state=0,
                  learning_rate_init=1e-2, n_iter_no_change=5)
    return [LSTMClassifier(**common), LSTMRegressor(**common)]


def _expected_failed_checks(estimator):
    return {"check_sample_weight_equivalence_on_dense_data": SAMPLE_WEIGHT_REASON}


@parametrize_with_checks(_instances(), expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)
