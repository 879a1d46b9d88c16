"""Where the real data sets come from: canonical URLs, sizes and checksums, in one table.

Every file is checked against its size and SHA-256 before it is used; an MD5 is listed where the data set's
authors or torchvision publish one. Where each value comes from (``tests/test_sources.py`` checks the table
against these published values, transcribed separately):

- sizes and SHA-256: TensorFlow Datasets' url_checksums (mnist.txt, fashion_mnist.txt, cifar10.txt,
  tiny_shakespeare.txt), which record the files at these URLs;
- MD5 of MNIST and Fashion-MNIST: torchvision's ``MNIST.resources`` / ``FashionMNIST.resources``;
- MD5 of cifar-10-binary.tar.gz: the CIFAR page, https://www.cs.toronto.edu/~kriz/cifar.html.

Standard library only: an exported training script carries this table with the loader.
"""

from __future__ import annotations

from dataclasses import dataclass

DATASETS_ENV = "LAYERLAB_DATASETS_DIR"  # the cache folder (``data.fetch.datasets_dir``); the CLI's --data-dir sets it


@dataclass(frozen=True)
class Remote:
    """One published file: its name as published, where to get it (first URL first), size and checksums."""

    name: str
    urls: tuple[str, ...]
    size: int
    sha256: str
    md5: str = ""


@dataclass(frozen=True)
class Source:
    """A data set's files and how to name it to a person (messages, the progress bar)."""

    title: str
    files: tuple[Remote, ...]
    page: str  # where a person reads about the data set and its licence


_MNIST = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/")
_FASHION = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/")


def _idx(mirrors: tuple[str, ...], name: str, size: int, sha256: str, md5: str) -> Remote:
    return Remote(name, tuple(m + name for m in mirrors), size, sha256, md5)


SOURCES: dict[str, Source] = {
    "mnist": Source("MNIST", (
        _idx(_MNIST, "train-images-idx3-ubyte.gz", 9912422,
             "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        _idx(_MNIST, "train-labels-idx1-ubyte.gz", 28881,
             "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", "d53e105ee54ea40749a09fcbcd1e9432"),
        _idx(_MNIST, "t10k-images-idx3-ubyte.gz", 1648877,
             "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", "9fb629c4189551a2d022fa330f9573f3"),
        _idx(_MNIST, "t10k-labels-idx1-ubyte.gz", 4542,
             "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", "ec29112dd5afa0611ce80d1b7f02629c"),
    ), "http://yann.lecun.com/exdb/mnist/"),
    "fashion_mnist": Source("Fashion-MNIST", (
        _idx(_FASHION, "train-images-idx3-ubyte.gz", 26421880,
             "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        _idx(_FASHION, "train-labels-idx1-ubyte.gz", 29515,
             "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", "25c81989df183df01b3e8a0aad5dffbe"),
        _idx(_FASHION, "t10k-images-idx3-ubyte.gz", 4422102,
             "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", "bef4ecab320f06d8554ea6380940ec79"),
        _idx(_FASHION, "t10k-labels-idx1-ubyte.gz", 5148,
             "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", "bb300cfdad3c16e7a12a480ee83cd310"),
    ), "https://github.com/zalandoresearch/fashion-mnist"),
    "cifar10": Source("CIFAR-10", (
        Remote("cifar-10-binary.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",), 170052171,
               "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", "c32a1d4ab5d03f1284b67883e8d87530"),
    ), "https://www.cs.toronto.edu/~kriz/cifar.html"),
    "shakespeare": Source("Tiny Shakespeare", (
        Remote("input.txt", ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",),
               1115394, "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"),
    ), "https://github.com/karpathy/char-rnn"),
}
