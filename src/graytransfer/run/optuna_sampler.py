"""An Optuna TPE sampler that continues a resumed study instead of repeating it.

Hydra builds the sweeper's sampler afresh for every `python train.py -m hparams_search=optuna`
command. With a fixed seed, a study resumed from its storage (`hydra.sweeper.storage`) would
propose its first trials over again: the TPE sampler's random start-up trials come from the same
seeded generator. `ResumedStudySampler` builds the TPE sampler when the first trial asks for
parameters, with a seed derived from the configured seed and that trial's number (how many trials
the study already holds): a new study gets the configured seed itself, a resumed one a seed of its
own, and the same commands run in the same order propose the same trials (reproducible).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, TPESampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState


def resumed_seed(seed: int | None, done: int) -> int | None:
    """The seed for a study that already holds `done` trials: `seed` for a new study (or None,
    unseeded), else a 32-bit seed mixed from `seed` and `done`."""
    if seed is None or done == 0:
        return seed
    return int(np.random.SeedSequence([int(seed), int(done)]).generate_state(1)[0])


class ResumedStudySampler(BaseSampler):
    """`optuna.samplers.TPESampler(seed=resumed_seed(seed, trials so far), **options)`, built at
    the study's first `ask()` of this process; everything else is the TPE sampler's own."""

    def __init__(self, seed: int | None = None, **options: Any) -> None:
        self.seed = seed
        self.options = options
        self._sampler: TPESampler | None = None

    def sampler_for(self, trial: FrozenTrial) -> TPESampler:
        if self._sampler is None:
            self._sampler = TPESampler(seed=resumed_seed(self.seed, trial.number), **self.options)
        return self._sampler

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self.sampler_for(trial).infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self.sampler_for(trial).sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        sampler = self.sampler_for(trial)
        return sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: list[float] | None,
    ) -> None:
        self.sampler_for(trial).after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        if self._sampler is not None:
            self._sampler.reseed_rng()
