"""Module-level objectives for the search tests: picklable, so spawned workers can run them."""

from __future__ import annotations

import time

import optuna


def busy(seconds: float) -> None:
    """Spin the CPU (the modelled energy follows CPU time)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def quadratic(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -3, 3)
    busy(0.05)
    return (x - 1) ** 2


def two_objectives(trial: optuna.Trial) -> tuple[float, float]:
    x = trial.suggest_float("x", 0, 1)
    return x, x * x  # accuracy-like (max) and cost-like (min)


def learning_curve(trial: optuna.Trial) -> float:
    """Reports a deterministic curve per epoch so pruners have something to compare."""
    rate = trial.suggest_float("rate", 0.01, 1.0, log=True)
    value = 0.0
    for step in range(1, 6):
        value = 1 - 1 / (1 + rate * step)
        trial.report(value, step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return value


def dies_on_trial_0(trial: optuna.Trial) -> float:
    """Trial 0's worker process ends abruptly (as if killed)."""
    import os

    x = trial.suggest_float("x", 0, 1)
    if trial.number == 0:
        os._exit(3)
    return x
