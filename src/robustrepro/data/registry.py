"""The datasets the harness knows: image shape, classes, and the raw files with their checksums.

The raw files, URLs and MD5s are torchvision's (0.28), and paths follow torchvision's on-disk
layout under the data root, so a root that torchvision already filled works as is and the other
way round. The constants are copied rather than read from torchvision because Snakemake imports
this module for every job, and importing torchvision (and so torch) there would cost seconds;
tests/test_download.py checks that the copies still agree with torchvision.

Each real dataset has a synthetic stand-in with the same shape and classes, generated from its
name (robustrepro.data.synthetic), so that the `smoke` scale runs the whole pipeline on a CPU
without downloads.
"""

from __future__ import annotations

from dataclasses import dataclass

from robustrepro.errors import unknown_choice


@dataclass(frozen=True)
class RawFile:
    path: str  # relative to the data root, in torchvision's layout
    md5: str
    urls: tuple[str, ...]  # official locations, tried in order


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    channels: int
    size: int  # images are square: size x size
    classes: tuple[str, ...]
    reader: str  # "idx", "cifar10", "cifar100" or "synthetic": how robustrepro.data.readers reads it
    folder: str = ""  # idx: the folder of the files, relative to the root; CIFAR: the archive's top folder
    files: tuple[RawFile, ...] = ()  # what fetch downloads and verifies
    stands_in_for: str | None = None  # synthetic datasets: the real dataset they imitate

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.size, self.size)

    @property
    def is_synthetic(self) -> bool:
        return self.reader == "synthetic"


def _idx_files(folder: str, mirrors: tuple[str, ...], md5s: dict[str, str]) -> tuple[RawFile, ...]:
    return tuple(RawFile(f"{folder}/{name}", md5, tuple(m + name for m in mirrors)) for name, md5 in md5s.items())


_MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
_FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)

_MNIST_CLASSES = ("0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
                  "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine")
_FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_CIFAR100_CLASSES = tuple("""
    apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly
    camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile
    cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp
    lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree
    orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine possum
    rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail snake spider
    squirrel streetcar sunflower sweet_pepper table tank telephone television tiger tractor train
    trout tulip turtle wardrobe whale willow_tree wolf woman worm""".split())

_REAL = [
    DatasetInfo(
        "mnist", 1, 28, _MNIST_CLASSES, reader="idx", folder="MNIST/raw",
        files=_idx_files("MNIST/raw", _MNIST_MIRRORS, {
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        })),
    DatasetInfo(
        "fashion-mnist", 1, 28, _FASHION_CLASSES, reader="idx", folder="FashionMNIST/raw",
        files=_idx_files("FashionMNIST/raw", _FASHION_MIRRORS, {
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        })),
    DatasetInfo(
        "cifar10", 3, 32, _CIFAR10_CLASSES, reader="cifar10", folder="cifar-10-batches-py",
        files=(RawFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a",
                       ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",)),)),
    DatasetInfo(
        "cifar100", 3, 32, _CIFAR100_CLASSES, reader="cifar100", folder="cifar-100-python",
        files=(RawFile("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85",
                       ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",)),)),
]

DATASETS: dict[str, DatasetInfo] = {info.name: info for info in _REAL}
DATASETS.update({
    f"synthetic-{info.name}": DatasetInfo(f"synthetic-{info.name}", info.channels, info.size, info.classes,
                                          reader="synthetic", stands_in_for=info.name)
    for info in _REAL
})


def dataset_info(dataset: str | DatasetInfo) -> DatasetInfo:
    """The registry entry for a name; a DatasetInfo passes through (tests and extensions bring their own)."""
    if isinstance(dataset, DatasetInfo):
        return dataset
    if dataset not in DATASETS:
        raise unknown_choice("dataset", dataset, DATASETS)
    return DATASETS[dataset]
