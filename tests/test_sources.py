"""The checksum table (data/sources.py) against the values published for the real files, transcribed here
separately from where they are published, so a slip in either copy fails:

- TensorFlow Datasets, tensorflow_datasets/url_checksums/{mnist,fashion_mnist,cifar10,tiny_shakespeare}.txt:
  "URL  size  sha256" per file;
- torchvision, torchvision/datasets/mnist.py: ``MNIST.resources`` and ``FashionMNIST.resources`` (name, md5);
- the CIFAR page, https://www.cs.toronto.edu/~kriz/cifar.html: "CIFAR-10 binary version ... 162 MB ...
  c32a1d4ab5d03f1284b67883e8d87530".
"""

from __future__ import annotations

import re

from data.sources import SOURCES

TFDS = """
https://storage.googleapis.com/cvdf-datasets/mnist/t10k-images-idx3-ubyte.gz 1648877 8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6
https://storage.googleapis.com/cvdf-datasets/mnist/t10k-labels-idx1-ubyte.gz 4542 f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6
https://storage.googleapis.com/cvdf-datasets/mnist/train-images-idx3-ubyte.gz 9912422 440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609
https://storage.googleapis.com/cvdf-datasets/mnist/train-labels-idx1-ubyte.gz 28881 3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c
http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-images-idx3-ubyte.gz 4422102 346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073
http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-labels-idx1-ubyte.gz 5148 67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5
http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz 26421880 3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84
http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-labels-idx1-ubyte.gz 29515 a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845
https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz 170052171 c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd
https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt 1115394 86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed
"""
TORCHVISION_MD5 = {
    "mnist": {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
              "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
              "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
              "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"},
    "fashion_mnist": {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                      "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
                      "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
                      "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"},
}
CIFAR_PAGE_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"


def _tfds() -> dict[str, tuple[int, str]]:
    rows = [line.split() for line in TFDS.strip().splitlines()]
    return {url: (int(size), sha) for url, size, sha in rows}


def test_every_file_has_its_published_size_and_sha256() -> None:
    published = _tfds()
    checked = set()
    for source in SOURCES.values():
        for remote in source.files:
            matches = [published[u] for u in remote.urls if u in published]
            assert matches, f"{remote.name}: none of its URLs is in TFDS's table"
            assert {(remote.size, remote.sha256)} == set(matches), remote.name
            checked |= {u for u in remote.urls if u in published}
    assert checked == set(published)  # every published file is in the table


def test_md5s_are_the_published_ones() -> None:
    for key, md5s in TORCHVISION_MD5.items():
        assert {f.name: f.md5 for f in SOURCES[key].files} == md5s
    assert SOURCES["cifar10"].files[0].md5 == CIFAR_PAGE_MD5
    assert SOURCES["cifar10"].files[0].name == "cifar-10-binary.tar.gz"  # the binary version: never a pickle


def test_the_table_is_well_formed() -> None:
    for key, source in SOURCES.items():
        assert source.title and source.page.startswith(("http://", "https://"))
        for remote in source.files:
            assert re.fullmatch(r"[0-9a-f]{64}", remote.sha256) and remote.size > 0
            assert remote.md5 == "" or re.fullmatch(r"[0-9a-f]{32}", remote.md5)
            assert remote.urls and all(u.startswith(("http://", "https://")) and u.endswith("/" + remote.name)
                                       for u in remote.urls), (key, remote.name)
