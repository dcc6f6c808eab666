"""Data: the task table, the readers of its files, tf.data pipelines and text preprocessing.

Modules: :mod:`~reskeras.data.spec` (:class:`TaskSpec` and the types the readers share),
:mod:`~reskeras.data.tasks` (the table), :mod:`~reskeras.data.load` (lookups, local copies,
tfds), :mod:`~reskeras.data.readers` (one module per file format),
:mod:`~reskeras.data.pipeline`, :mod:`~reskeras.data.text` and :mod:`~reskeras.data.vectors`.
"""

from reskeras.data.load import (
    describe_tasks,
    get_task,
    grey_images,
    list_tasks,
    load_task,
    load_test_set,
    local_search_dirs,
    training_splits,
)
from reskeras.data.pipeline import (
    MAX_SHUFFLE_BUFFER,
    augment_batch,
    bucketed_pairs,
    make_pipeline,
)
from reskeras.data.readers.cifar import SafeUnpickler, safe_unpickle
from reskeras.data.spec import (
    DataError,
    LoadedTask,
    LoadOptions,
    Reader,
    TaskSpec,
    TestSet,
    match_labels,
)
from reskeras.data.tasks import TASKS

__all__ = [
    "MAX_SHUFFLE_BUFFER",
    "TASKS",
    "DataError",
    "LoadOptions",
    "LoadedTask",
    "Reader",
    "SafeUnpickler",
    "TaskSpec",
    "TestSet",
    "augment_batch",
    "bucketed_pairs",
    "describe_tasks",
    "get_task",
    "grey_images",
    "list_tasks",
    "load_task",
    "load_test_set",
    "local_search_dirs",
    "make_pipeline",
    "match_labels",
    "safe_unpickle",
    "training_splits",
]
