import gc
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# Test modules in different folders share basenames (data/test_text.py, models/test_text.py),
# so pytest imports them with --import-mode=importlib (pyproject), which puts nothing on
# sys.path; the shared helpers (harness, synthetic, support) are imported from here.
TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

import keras  # noqa: E402
import pytest  # noqa: E402
from support import FASHION_DIR, SST2_DIR, WIKITEXT2_DIR, require_data  # noqa: E402


def pytest_collection_finish(session):
    """Moves everything imported so far (TensorFlow, Keras, keras-hub, the test modules) out of
    the garbage collector's reach, so that its full collections walk only what tests made."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts with float32 policy, a fixed seed and a clean Keras session."""
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(1234)
    yield
    keras.config.set_dtype_policy("float32")
    # Without the gc.collect() of free_memory=True, which took 1-2 s a test once the suite's
    # objects piled up (a quarter of the fast tier); Python's own collector still runs.
    keras.backend.clear_session(free_memory=False)


@pytest.fixture(scope="session")
def real_fashion_mnist():
    """Debian's Fashion-MNIST (dataset-fashion-mnist): skipped without it, an error under CI."""
    return require_data(FASHION_DIR / "train-images-idx3-ubyte.gz", "Fashion-MNIST").parent


@pytest.fixture(scope="session")
def real_sst2():
    """SST-2 in ../shared/data/sst2: skipped without it, an error under CI."""
    require_data(SST2_DIR / "train.tsv", "SST-2")
    return SST2_DIR


@pytest.fixture(scope="session")
def real_wikitext2():
    """WikiText-2 in ../shared/data/wikitext2: skipped without it, an error under CI."""
    require_data(WIKITEXT2_DIR / "train.txt.gz", "WikiText-2")
    return WIKITEXT2_DIR
