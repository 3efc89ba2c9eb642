"""The linear probe's C search (CoOp's lpclip protocol) against direct scikit-learn computations."""
import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, PredefinedSplit

from trainers.linear_probe.probe_search import (
    COARSE_GRID,
    RegularisationSearch,
    fit_probe,
    probe_accuracy,
    search_regularisation,
)
from trainers.linear_probe import probe_layer


def clusters(n_classes, per_class, spread, seed, dim=8):
    """Gaussian blobs around fixed class centres (the same centres for every seed)."""
    centres = np.random.RandomState(0).normal(size=(n_classes, dim)) * 3
    rng = np.random.RandomState(seed)
    features = np.concatenate([c + spread * rng.normal(size=(per_class, dim)) for c in centres])
    return features, np.repeat(np.arange(n_classes), per_class)


def test_separable_features_reach_100_percent():
    train = clusters(5, 4, 0.1, seed=1)
    val = clusters(5, 4, 0.1, seed=2)
    test_x, test_y = clusters(5, 30, 0.1, seed=3)
    result = search_regularisation(*train, *val)
    assert probe_accuracy(result.classifier, test_x, test_y) == 100.0
    assert result.val_accuracy == 100.0


@pytest.fixture(scope="module")
def overlapping():
    """Overlapping blobs: the validation accuracy depends on C, so the search has work to do."""
    return clusters(4, 4, 4.0, seed=1), clusters(4, 4, 4.0, seed=2)


def test_coarse_peak_equals_sklearn_grid_search(overlapping):
    (train_x, train_y), (val_x, val_y) = overlapping
    features = np.concatenate([train_x, val_x])
    labels = np.concatenate([train_y, val_y])
    fold = PredefinedSplit(np.r_[-np.ones(len(train_y)), np.zeros(len(val_y))])
    grid = GridSearchCV(LogisticRegression(solver="lbfgs", max_iter=1000),
                        {"C": list(COARSE_GRID)}, cv=fold, scoring="accuracy", refit=False).fit(features, labels)
    result = search_regularisation(train_x, train_y, val_x, val_y, num_step=0)
    assert result.coarse_c == grid.best_params_["C"]
    assert result.c == grid.best_params_["C"]


def test_search_picks_the_c_of_a_direct_sklearn_bisection(overlapping):
    """The protocol written out with sklearn alone: coarse grid, then 8 log-space bisections."""
    (train_x, train_y), (val_x, val_y) = overlapping

    def val_acc(c):
        clf = LogisticRegression(solver="lbfgs", max_iter=1000, C=c).fit(train_x, train_y)
        return (clf.predict(val_x) == val_y).mean()

    scores = [val_acc(c) for c in COARSE_GRID]
    peak = COARSE_GRID[scores.index(max(scores))]
    left, right = peak * 0.1, peak * 10
    for _ in range(8):
        lo, hi = np.log10(left), np.log10(right)
        if val_acc(right) > val_acc(left):
            chosen, lo = right, (lo + hi) / 2
        else:
            chosen, hi = left, (lo + hi) / 2
        left, right = 10 ** lo, 10 ** hi

    result = search_regularisation(train_x, train_y, val_x, val_y)
    assert result.c == pytest.approx(chosen, rel=1e-12)
    assert len(result.trace) == 8
    assert {left < right for left, _, right, _ in result.trace} == {True}
    assert any(r_acc > l_acc for _, l_acc, _, r_acc in result.trace)  # the search moved both ways
    assert any(r_acc <= l_acc for _, l_acc, _, r_acc in result.trace)
    expected = fit_probe(train_x, train_y, chosen)
    np.testing.assert_allclose(result.classifier.coef_, expected.coef_, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("n_classes,num_classes", [(4, 4), (2, 2), (3, 5)])
def test_probe_layer_argmax_equals_sklearn_predict(n_classes, num_classes):
    """Multi-class, two-class (one score) and classes the probe never saw (never predicted)."""
    features, labels = clusters(n_classes, 6, 2.0, seed=4)
    labels = labels * (num_classes // n_classes) if num_classes != n_classes else labels
    clf = fit_probe(features, labels, 1.0)
    layer = probe_layer(clf, num_classes, features.shape[1])
    test_x, _ = clusters(n_classes, 20, 3.0, seed=5)
    predicted = layer(torch.from_numpy(test_x)).argmax(dim=1).numpy()
    np.testing.assert_array_equal(predicted, clf.predict(test_x))


def test_search_rejects_an_empty_grid():
    (train_x, train_y), (val_x, val_y) = clusters(2, 3, 0.1, 1), clusters(2, 3, 0.1, 2)
    with pytest.raises(ValueError, match="coarse C grid is empty"):
        search_regularisation(train_x, train_y, val_x, val_y, coarse_grid=())


def test_c_grid_from_yaml_strings_and_bad_entries():
    from trainers.linear_probe import coarse_grid

    assert coarse_grid(["1e6", 1.0e-4, 100]) == [1e6, 1e-4, 100.0]
    for bad in (["1e6", "ten"], [0.0], [-1.0]):
        with pytest.raises(ValueError, match=r"TRAINER.LINEAR_PROBE.C_GRID holds .* positive number"):
            coarse_grid(bad)


class Stop(Exception):
    pass


# In the grid, at its end, after a left end, after a right end, and after the last left end: the
# classifier kept there (fit 22) is the result, restored from the saved state.
@pytest.mark.parametrize("stop_after", [1, 7, 8, 16, 22])
def test_a_search_resumed_from_its_saved_state_ends_as_the_uninterrupted_one(overlapping, tmp_path, stop_after):
    (train_x, train_y), (val_x, val_y) = overlapping
    expected = search_regularisation(train_x, train_y, val_x, val_y)
    held = []

    def stop_at_the_fit(search):
        held.append(len(search.kept))
        if len(search.scores) == stop_after:
            raise Stop

    stopped = RegularisationSearch()
    with pytest.raises(Stop):
        stopped.run(train_x, train_y, val_x, val_y, after_fit=stop_at_the_fit)
    assert max(held) <= 2, "only the kept classifier and a pending left end are held"
    torch.save(stopped.state_dict(), tmp_path / "state.pth")
    resumed = RegularisationSearch()
    resumed.load_state_dict(torch.load(tmp_path / "state.pth", weights_only=True))
    fits = []
    result = resumed.run(train_x, train_y, val_x, val_y, after_fit=lambda search: fits.append(len(search.scores)))
    assert len(fits) == resumed.total_fits - stop_after - 1  # every fit after the stop, none before it
    assert (result.c, result.val_accuracy, result.coarse_c, result.trace) == (
        expected.c, expected.val_accuracy, expected.coarse_c, expected.trace)
    for name in ("classes_", "coef_", "intercept_"):
        assert np.array_equal(getattr(result.classifier, name), getattr(expected.classifier, name))
    assert np.array_equal(result.classifier.predict(val_x), expected.classifier.predict(val_x))
    assert hasattr(result.classifier, "n_iter_") == (stop_after != 22), "only a fitted classifier has n_iter_"
