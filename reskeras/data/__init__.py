"""Data: tasks, the readers of their files, tf.data pipelines and text preprocessing.

Modules: :mod:`~reskeras.data.tasks` (the task table, discovery, :func:`load_task`,
:func:`load_test_set`), one module per reader (:mod:`~reskeras.data.idx`,
:mod:`~reskeras.data.cifar`, :mod:`~reskeras.data.tables`, :mod:`~reskeras.data.images`,
:mod:`~reskeras.data.tfds`), :mod:`~reskeras.data.pipeline` and :mod:`~reskeras.data.text`.
"""

from reskeras.data.cifar import SafeUnpickler, safe_unpickle
from reskeras.data.common import DataError, Dataset, LoadOptions, Reader, TestSet, match_labels
from reskeras.data.pipeline import MAX_SHUFFLE_BUFFER, augment_batch, make_pipeline
from reskeras.data.tasks import (
    TASKS,
    TaskSpec,
    describe_tasks,
    get_task,
    list_tasks,
    load_task,
    load_test_set,
    local_search_dirs,
)

__all__ = [
    "MAX_SHUFFLE_BUFFER",
    "TASKS",
    "DataError",
    "Dataset",
    "LoadOptions",
    "Reader",
    "SafeUnpickler",
    "TaskSpec",
    "TestSet",
    "augment_batch",
    "describe_tasks",
    "get_task",
    "list_tasks",
    "load_task",
    "load_test_set",
    "local_search_dirs",
    "make_pipeline",
    "match_labels",
    "safe_unpickle",
]
