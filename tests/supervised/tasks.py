"""Planted tasks for the detectors that learn across tasks: several
training tasks, each with its own kind of anomaly, and a new task with a
kind none of them has."""

import numpy as np

N_SIGNAL, N_NUISANCE = 4, 12
# The anomaly direction of each training task: + or - one signal feature.
TRAIN_DIRECTIONS = [(0, 1), (1, 1), (2, 1), (3, 1), (0, -1), (1, -1), (3, -1)]
NEW_DIRECTION = (2, -1)  # a kind no training task has


def make_task(rng, location, direction, n_normal, n_anomalies, shift=3.0):
    """A task: normal samples around ``location`` in 4 signal features,
    with 12 nuisance features of standard deviation 2 that no task's
    anomalies differ in; anomalies quieter (0.6) in the signal features
    but moved by ``shift`` along one of them, ``direction = (feature,
    sign)``. Labels 1 for the anomalies, 0 for the others."""
    n = n_normal + n_anomalies
    X = np.hstack([location + rng.normal(size=(n, N_SIGNAL)),
                   2.0 * rng.normal(size=(n, N_NUISANCE))])
    feature, sign = direction
    X[n_normal:, :N_SIGNAL] = location + 0.6 * rng.normal(size=(n_anomalies, N_SIGNAL))
    X[n_normal:, feature] += sign * shift
    return X, np.r_[np.zeros(n_normal), np.ones(n_anomalies)].astype(int)


def planted_tasks(seed=0):
    """Seven training tasks of 100 normal samples (unlabelled, -1) and 10
    labelled anomalies, at random locations, each with its own kind of
    anomaly; and a new task, with another kind, whose anomalies move
    towards the other tasks' data: a support set of 5 labelled anomalies
    and 20 normal samples, and a test set of 200 normal samples and 40
    anomalies."""
    rng = np.random.RandomState(seed)
    locations = rng.normal(0.0, 3.0, size=(len(TRAIN_DIRECTIONS) + 1, N_SIGNAL))
    tasks = [make_task(rng, locations[t], d, 100, 10) for t, d in enumerate(TRAIN_DIRECTIONS)]
    X = np.vstack([X for X, _ in tasks])
    y = np.concatenate([np.where(y == 1, 1, -1) for _, y in tasks])
    groups = np.repeat(np.arange(len(tasks)), 110)
    new_location = locations[-1]
    new_location[NEW_DIRECTION[0]] = abs(new_location[NEW_DIRECTION[0]]) + 3.0
    support = make_task(rng, new_location, NEW_DIRECTION, 20, 5)
    test = make_task(rng, new_location, NEW_DIRECTION, 200, 40)
    return (X, y, groups), support, test


def small_tasks(seed=0):
    """Three of the training tasks of :func:`planted_tasks`, each cut to 27
    unlabelled samples and 3 labelled anomalies: 90 samples."""
    (X, y, groups), _, _ = planted_tasks(seed)
    within = np.arange(len(X)) % 110
    keep = (groups < 3) & ((within < 27) | ((within >= 100) & (within < 103)))
    return X[keep], y[keep], groups[keep]


def alike_tasks(seed=0, n_tasks=8):
    """Tasks that are alike: ``n_tasks`` training tasks and a new one as
    in :func:`planted_tasks` (at random locations, 100 unlabelled samples
    and 10 labelled anomalies a training task; a support set of 5
    anomalies and 20 normal samples and a test set of 200 and 40 for the
    new task), but every task's anomalies of the same kind, a move of 3
    up the first signal feature: the tasks differ in where their normal
    data lie, not in what makes an anomaly."""
    rng = np.random.RandomState(seed)
    locations = rng.normal(0.0, 3.0, size=(n_tasks + 1, N_SIGNAL))
    direction = (0, 1)
    tasks = [make_task(rng, locations[t], direction, 100, 10) for t in range(n_tasks)]
    X = np.vstack([X for X, _ in tasks])
    y = np.concatenate([np.where(y == 1, 1, -1) for _, y in tasks])
    groups = np.repeat(np.arange(n_tasks), 110)
    support = make_task(rng, locations[-1], direction, 20, 5)
    test = make_task(rng, locations[-1], direction, 200, 40)
    return (X, y, groups), support, test
