"""Evaluation of a tested model: what the test split's per-image predictions say, with how much
certainty.

- `predictions`: the probabilities and true labels of every test image, collected during
  `Trainer.test` (`TestPredictions`, gathered across DDP ranks into the data's test order) and
  laid out as the rows of `predictions.csv` (`Predictions.rows`; the run folder writes it);
- `reference`: the headline metrics of each task with scikit-learn, the implementation reviewers
  know (the point estimates);
- `weighted`: the same metrics for many resamples at once (a resample is a count per image), equal
  to scikit-learn's on each resample (tested), fast enough for 1000 resamples on every run;
- `calibration`: the expected calibration error, the Brier score and the reliability diagram's
  bins (and its PNG) of each task;
- `bootstrap`: `Bootstrap` (`eval=` in conf/): a seeded percentile bootstrap over test images, or
  over whole groups (patients) when the data has a group column, and the intervals it gives;
- `temperature`: `calibration=temperature` fitted on the val split (one temperature, one per
  label, or Platt's a, b for binary), stored in the classifier's buffers;
- `subgroups` (and `subgroup_output`: its CSV rows, logged names, printed table): every headline
  metric per subgroup (`eval.subgroups`, `eval.bins`) with its interval and its gap;
- `ensemble` and `tta`: several checkpoints (a list or a CV folder) and flipped views averaged
  into one model for evaluate, predict, export and compare; `ensemble_fit`: its calibration and
  thresholds re-fitted on a CV folder's out-of-fold predictions;
- `paired` and `delong`: two models on the same test images, the paired-bootstrap difference of
  each metric and DeLong's test of two AUROCs (`python -m graytransfer.tools.compare`).

Imports `task` and base modules only; `run` and `tools` use it.
"""
