"""Tasks: what a classifier's outputs mean (`task=multiclass|multilabel|binary`, conf/task/).

A task owns everything that depends on the label format and nothing else: the head's width, the
loss, the probabilities and decisions made from the logits, the metrics, the metric the run is
monitored by, and (multilabel, binary) the decision thresholds chosen on the validation split.
The classifier (`graytransfer.model.classifier`) delegates to it; this package imports nothing
from the rest of graytransfer but `errors`.

- `base`: the `Task` contract and the `Scores` metric state (probabilities and targets of an
  epoch) the thresholded tasks compute from.
- `multiclass`: one label per image, softmax + cross-entropy (the default, unchanged).
- `multilabel`: several labels per image (0/1, -1 = unknown and masked), sigmoid + BCE with
  optional `pos_weight`; per-label and averaged AUROC, AP, F1.
- `binary`: two classes, one logit; AUROC, AP, sensitivity, specificity, balanced accuracy.
- `thresholds`: the rules that choose a threshold on validation scores.
- `metrics`: per-label metrics of scores with unknown targets masked.
"""

from graytransfer.task.base import Task
from graytransfer.task.binary import BinaryTask
from graytransfer.task.multiclass import MulticlassTask
from graytransfer.task.multilabel import MultiLabelTask

__all__ = ["BinaryTask", "MultiLabelTask", "MulticlassTask", "Task"]
