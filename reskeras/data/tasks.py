"""The task table: every built-in task, what its data is and which reader reads it.

A *task* (:class:`~reskeras.data.spec.TaskSpec`) is a dataset's kind (``"image"``, ``"text"``
or ``"language_model"``), classes, input spec, where local copies live, its tensorflow-datasets
name, and the reader of its files; adding a task is adding one entry to :data:`TASKS`. Finding
and loading a task's data is :mod:`reskeras.data.load`.
"""

from __future__ import annotations

from reskeras.data.readers.cifar import CIFAR10, CIFAR100
from reskeras.data.readers.corpus import CorpusReader
from reskeras.data.readers.idx import IdxReader
from reskeras.data.readers.images import ImageFolderReader
from reskeras.data.readers.parallel import ParallelReader
from reskeras.data.readers.tables import TableReader
from reskeras.data.spec import TaskSpec

__all__ = ["TASKS"]

IDX = IdxReader()
TABLES = TableReader()
CORPUS = CorpusReader()
PARALLEL = ParallelReader()

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
MNIST_CLASSES = tuple(str(i) for i in range(10))
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
# The 100 CIFAR-100 "fine" label names; index = fine label id (alphabetical, as in meta).
CIFAR100_CLASSES = tuple(
    """apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus
    butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab
    crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard
    lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom
    oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine
    possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail snake
    spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger tractor
    train trout tulip turtle wardrobe whale willow_tree wolf woman worm""".split()
)
assert len(CIFAR100_CLASSES) == 100 and list(CIFAR100_CLASSES) == sorted(CIFAR100_CLASSES)


TASKS: dict[str, TaskSpec] = {
    t.name: t
    for t in (
        TaskSpec(
            name="fashion_mnist",
            kind="image",
            class_names=FASHION_MNIST_CLASSES,
            input_shape=(28, 28, 1),
            input_mean=(0.2860,),
            input_std=(0.3530,),
            flip=True,
            tfds_name="fashion_mnist",
            local_names=("fashion-mnist", "fashion_mnist"),
            hint="`apt-get install dataset-fashion-mnist` (offline copy in "
            "/usr/share/datasets/fashion-mnist)",
            description="Zalando clothing, 28x28 grayscale, 60k train / 10k test",
            reader=IDX,
        ),
        TaskSpec(
            name="mnist",
            kind="image",
            class_names=MNIST_CLASSES,
            input_shape=(28, 28, 1),
            input_mean=(0.1307,),
            input_std=(0.3081,),
            flip=False,
            tfds_name="mnist",
            local_names=("mnist", "mnist.npz"),
            hint="pass data=DIR with the MNIST IDX files (train-images-idx3-ubyte.gz, ...)",
            description="handwritten digits, 28x28 grayscale, 60k train / 10k test",
            reader=IDX,
        ),
        TaskSpec(
            name="cifar10",
            kind="image",
            class_names=CIFAR10_CLASSES,
            input_shape=(32, 32, 3),
            input_mean=(0.4914, 0.4822, 0.4465),
            input_std=(0.2470, 0.2435, 0.2616),
            flip=True,
            tfds_name="cifar10",
            local_names=("cifar-10-batches-py",),
            hint="unpack cifar-10-python.tar.gz into $RESKERAS_DATA or ~/.keras/datasets",
            description="10 object classes, 32x32 RGB, 50k train / 10k test",
            reader=CIFAR10,
        ),
        TaskSpec(
            name="cifar100",
            kind="image",
            class_names=CIFAR100_CLASSES,
            input_shape=(32, 32, 3),
            input_mean=(0.5071, 0.4865, 0.4409),
            input_std=(0.2673, 0.2564, 0.2762),
            flip=True,
            tfds_name="cifar100",
            local_names=("cifar-100-python",),
            hint="unpack cifar-100-python.tar.gz into $RESKERAS_DATA or ~/.keras/datasets",
            description="100 fine object classes, 32x32 RGB, 50k train / 10k test",
            reader=CIFAR100,
        ),
        TaskSpec(
            name="sst2",
            kind="text",
            class_names=("negative", "positive"),
            input_shape=(),
            tfds_name="glue/sst2",
            tfds_splits=("train", "validation"),
            tfds_text_key="sentence",
            local_names=("sst2", "SST-2"),
            hint="put GLUE SST-2 {train,dev}.tsv in $RESKERAS_DATA/sst2 or ../shared/data/sst2",
            description="Stanford Sentiment Treebank (GLUE), binary sentence polarity; "
            "test = GLUE dev split",
            reader=TABLES,
        ),
        TaskSpec(
            name="imdb",
            kind="text",
            class_names=("negative", "positive"),
            input_shape=(),
            tfds_name="imdb_reviews",
            tfds_text_key="text",
            local_names=("imdb",),
            hint="put train.csv/test.csv (text,label) in $RESKERAS_DATA/imdb",
            description="IMDB movie reviews, binary sentiment, 25k train / 25k test",
            reader=TABLES,
        ),
        TaskSpec(
            name="ag_news",
            kind="text",
            class_names=("World", "Sports", "Business", "Sci/Tech"),
            input_shape=(),
            tfds_name="ag_news_subset",
            tfds_text_key="description",
            local_names=("ag_news",),
            hint="put train.csv/test.csv (text,label) in $RESKERAS_DATA/ag_news",
            description="AG News topic classification (4 classes), 120k train / 7.6k test",
            reader=TABLES,
        ),
        TaskSpec(
            name="image_folder",
            kind="image",
            class_names=None,
            input_shape=None,
            flip=True,
            hint="pass data=DIR with one sub-directory of PNG/JPEG images per class "
            "(optionally inside train/ and test/)",
            description="your images: one sub-directory per class (PNG/JPEG)",
            reader=ImageFolderReader(),
        ),
        TaskSpec(
            name="text_file",
            kind="text",
            class_names=None,
            input_shape=(),
            hint="pass data=FILE.csv|FILE.tsv (text and label columns) or a directory with "
            "train.tsv/dev.tsv or train.csv/test.csv",
            description="your text: a CSV/TSV file with a text column and a label column",
            reader=TABLES,
        ),
        TaskSpec(
            name="wikitext2",
            kind="language_model",
            class_names=None,
            input_shape=(),
            local_names=("wikitext2", "wikitext-2"),
            hint="put WikiText-2 (v1, tokenized) train.txt/valid.txt[.gz] or wiki.*.tokens in "
            "$RESKERAS_DATA/wikitext2 or ../shared/data/wikitext2 "
            "(https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-v1.zip)",
            description="WikiText-2 word-level language modelling (Merity et al. 2016), "
            "2.1M training tokens, vocabulary 33,278",
            reader=CORPUS,
        ),
        TaskSpec(
            name="language_model",
            kind="language_model",
            class_names=None,
            input_shape=(),
            hint="pass data=FILE.txt[.gz] or a folder of .txt files (or train.txt/valid.txt)",
            description="your text: a UTF-8 file, a .gz of one, or a folder of .txt files",
            reader=CORPUS,
        ),
        TaskSpec(
            name="multi30k",
            kind="translation",
            class_names=None,
            input_shape=(),
            local_names=("multi30k",),
            hint="put Multi30k task 1 raw text (train.de.gz, train.en.gz, val.de.gz, val.en.gz "
            "from github.com/multi30k/dataset, data/task1/raw) in $RESKERAS_DATA/multi30k or "
            "../shared/data/multi30k",
            description="Multi30k image-caption translation (Elliott et al. 2016), 29,000 "
            "pairs; German to English (languages='en-de' for the other way)",
            languages=("de", "en"),
            reader=PARALLEL,
        ),
        TaskSpec(
            name="wmt14",
            kind="translation",
            class_names=None,
            input_shape=(),
            tfds_name="wmt14_translate/de-en",
            local_names=("wmt14",),
            hint="put WMT14 parallel text as train.de/train.en, val.*, test.* (plain or .gz) in "
            "$RESKERAS_DATA/wmt14, or let tensorflow-datasets download wmt14_translate/de-en "
            "(needs internet and disk: 4.5M pairs)",
            description="WMT14 news translation, 4.5M pairs; German to English "
            "(languages='en-de' for the other way)",
            languages=("de", "en"),
            reader=PARALLEL,
        ),
        TaskSpec(
            name="translation",
            kind="translation",
            class_names=None,
            input_shape=(),
            hint="pass data=a folder of train.SRC/train.TGT[.gz] files (val.*, test.* too), a "
            "source file beside its target (news.de with news.en), or a two-column TSV",
            description="your parallel text: line i of the source translates line i of the target",
            reader=PARALLEL,
        ),
    )
}
