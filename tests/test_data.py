"""Data-set registry: loaders over files the tests write (IDX, CIFAR pickles, ImageFolder),
the real Fashion-MNIST when installed, seeded splits, augmentation and missing-data errors."""

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from patterns import data

IDX_NAMES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """Caches go to the test's folder; no $SPARSEBENCH_DATA from the caller's shell."""
    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(data.DATA_ENV, raising=False)


def _idx_bytes(array: np.ndarray) -> bytes:
    magic = 0x0800 | array.ndim  # unsigned-byte IDX: 2049 for labels, 2051 for images
    return struct.pack(f">{1 + array.ndim}I", magic, *array.shape) + array.tobytes()


def _fake_mnist(n_train: int = 50, n_test: int = 20, seed: int = 0):
    rng = np.random.default_rng(seed)
    return {
        "train": (rng.integers(0, 256, (n_train, 28, 28), np.uint8), np.arange(n_train) % 10),
        "test": (rng.integers(0, 256, (n_test, 28, 28), np.uint8), np.arange(n_test) % 10),
    }


def _write_idx(folder: Path, arrays, gz: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for split, (images, labels) in arrays.items():
        for kind, array in (("images", images), ("labels", labels.astype(np.uint8))):
            name = IDX_NAMES[(split, kind)]
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(_idx_bytes(array)))
            else:
                (folder / name).write_bytes(_idx_bytes(array))


def _raw_pixels(dataset: data.TensorImageDataset, images: torch.Tensor) -> torch.Tensor:
    """Undo the normalisation of a whole (unaugmented) dataset, back to uint8 pixels."""
    std = torch.tensor(dataset.std).view(-1, 1, 1)
    mean = torch.tensor(dataset.mean).view(-1, 1, 1)
    return ((images * std + mean) * 255).round().to(torch.uint8)


# --- registry -------------------------------------------------------------------------------


def test_registry_lists_the_contract_datasets():
    assert data.available_datasets() == ["fashion-mnist", "cifar10", "cifar100", "imagenet"]
    assert data.dataset_info("fashion-mnist") == data.DatasetInfo("fashion-mnist", 1, 28, 10)
    assert data.dataset_info("cifar100") == data.DatasetInfo("cifar100", 3, 32, 100)
    assert data.dataset_info("imagenet") == data.DatasetInfo("imagenet", 3, 224, 1000)


def test_unknown_dataset_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown data set 'mnist'.*fashion-mnist, cifar10"):
        data.load_splits("mnist")


@pytest.mark.parametrize(
    ("kwargs", "arg"),
    [
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"val_fraction": -0.1}, "val_fraction"),
        ({"train_subset": 0}, "train_subset"),
        ({"train_subset": 41}, "train_subset"),
        ({"test_subset": 21}, "test_subset"),
    ],
)
def test_bad_split_arguments(tmp_path, kwargs, arg):
    _write_idx(tmp_path / "fm", _fake_mnist())
    kwargs = {"val_fraction": 0.2, **kwargs}
    with pytest.raises(ValueError, match=arg):
        data.load_splits("fashion-mnist", root=tmp_path / "fm", **kwargs)


# --- Fashion-MNIST from IDX files -------------------------------------------------------------


def test_fashion_mnist_from_gz_idx_files(tmp_path):
    arrays = _fake_mnist()
    _write_idx(tmp_path / "fm", arrays)
    splits = data.load_splits("fashion-mnist", root=tmp_path / "fm", val_fraction=0.2)
    assert [len(s) for s in splits] == [40, 10, 20]
    # every image comes back with its own label, pixels intact after normalisation
    for split, source in ((splits.val, "train"), (splits.test, "test")):
        images, labels = split.batch(range(len(split)))
        assert images.shape == (len(split), 1, 28, 28) and images.dtype == torch.float32
        expected = torch.from_numpy(arrays[source][0])[split.indices].unsqueeze(1)
        assert torch.equal(_raw_pixels(split, images), expected)
        assert labels.tolist() == (split.indices % 10).tolist()
    # the gz files were decompressed once into the cache, in torchvision's layout
    raw = list((tmp_path / "cache" / "fashion-mnist").glob("*/FashionMNIST/raw"))
    assert len(raw) == 1
    assert sorted(p.name for p in raw[0].iterdir()) == sorted(IDX_NAMES.values())


def test_fashion_mnist_in_torchvision_layout_needs_no_cache(tmp_path, monkeypatch):
    _write_idx(tmp_path / "data" / "fashion-mnist" / "FashionMNIST" / "raw", _fake_mnist(), False)
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "data"))
    splits = data.load_splits("fashion-mnist", val_fraction=0.2)
    assert [len(s) for s in splits] == [40, 10, 20]
    assert not (tmp_path / "cache").exists()


def test_dataloader_batches(tmp_path):
    _write_idx(tmp_path / "fm", _fake_mnist())
    splits = data.load_splits("fashion-mnist", root=tmp_path / "fm", val_fraction=0.2)
    loader = DataLoader(splits.train, batch_size=16, shuffle=True)
    batches = list(loader)
    assert [len(x) for x, _ in batches] == [16, 16, 8]
    x, y = batches[0]
    assert x.shape == (16, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    x0, y0 = splits.train[3]
    assert x0.shape == (1, 28, 28) and isinstance(y0, int)


def test_validation_and_test_are_never_augmented(tmp_path):
    _write_idx(tmp_path / "fm", _fake_mnist())
    splits = data.load_splits("fashion-mnist", root=tmp_path / "fm", val_fraction=0.2)
    assert splits.train.augment == data.Augment(pad=2, flip=False)
    assert splits.val.augment is None and splits.test.augment is None
    torch.manual_seed(0)
    first = splits.train.batch(range(40))[0]
    assert not torch.equal(first, splits.train.batch(range(40))[0])  # random crops differ
    plain = data.load_splits("fashion-mnist", root=tmp_path / "fm", val_fraction=0.2, augment=False)
    assert plain.train.augment is None
    assert torch.equal(plain.train.batch(range(40))[0], plain.train.batch(range(40))[0])


@pytest.mark.parametrize("augment", [data.Augment(pad=2, flip=False), data.Augment(4, True)])
def test_augment_is_a_padded_crop_and_maybe_a_flip(augment):
    torch.manual_seed(0)
    images = torch.randint(1, 256, (64, 3, 8, 8), dtype=torch.uint8)  # no zero pixels
    out = augment(images)
    p = augment.pad
    padded = torch.nn.functional.pad(images, (p,) * 4)
    flips = 0
    for src, got in zip(padded, out, strict=True):
        crops = [src[:, t : t + 8, s : s + 8] for t in range(2 * p + 1) for s in range(2 * p + 1)]
        plain = any(torch.equal(got, c) for c in crops)
        flipped = any(torch.equal(got, c.flip(-1)) for c in crops)
        assert plain or (augment.flip and flipped)
        flips += flipped and not plain
    assert (flips > 10) == augment.flip


# --- seeded splits ------------------------------------------------------------------------------


def test_splits_are_deterministic_and_disjoint(tmp_path):
    _write_idx(tmp_path / "fm", _fake_mnist(n_train=200, n_test=50))
    root = tmp_path / "fm"

    def indices(**kwargs):
        return [s.indices.tolist() for s in data.load_splits("fashion-mnist", root=root, **kwargs)]

    train, val, test = indices(seed=3)
    assert indices(seed=3) == [train, val, test]
    assert indices(seed=4)[:2] != [train, val]
    assert len(val) == 20 and sorted(train + val) == list(range(200))
    assert test == list(range(50))
    sub_train, sub_val, sub_test = indices(seed=3, train_subset=30, test_subset=10)
    assert sub_val == val and set(sub_train) < set(train) and len(sub_train) == 30
    assert len(sub_test) == 10 and sub_test == indices(seed=3, test_subset=10)[2]


# --- CIFAR pickles -------------------------------------------------------------------------------


def _write_cifar(folder: Path, files: dict[str, int], label_key: str, classes: int) -> dict:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    written = {}
    for name, n in files.items():
        entry = {
            "data": rng.integers(0, 256, (n, 3072), np.uint8),
            label_key: rng.integers(0, classes, n).tolist(),
        }
        (folder / name).write_bytes(pickle.dumps(entry))
        written[name] = entry
    return written


def test_cifar10_from_pickle_batches(tmp_path):
    files = {f"data_batch_{i}": 6 for i in range(1, 6)} | {"test_batch": 8}
    written = _write_cifar(tmp_path / "c" / "cifar-10-batches-py", files, "labels", 10)
    splits = data.load_splits("cifar10", root=tmp_path / "c", val_fraction=0.1)
    assert [len(s) for s in splits] == [27, 3, 8]
    assert splits.train.augment == data.Augment(pad=4, flip=True)
    images, labels = splits.test.batch(range(8))
    expected = torch.from_numpy(written["test_batch"]["data"].reshape(8, 3, 32, 32))
    assert torch.equal(_raw_pixels(splits.test, images), expected)
    assert labels.tolist() == written["test_batch"]["labels"]
    # the val images are train images 6 per batch file, in file order
    train_all = np.vstack([written[f"data_batch_{i}"]["data"] for i in range(1, 6)])
    val_images = splits.val.batch(range(3))[0]
    expected = torch.from_numpy(train_all[splits.val.indices.numpy()].reshape(3, 3, 32, 32))
    assert torch.equal(_raw_pixels(splits.val, val_images), expected)


def test_cifar100_via_env_folder(tmp_path, monkeypatch):
    written = _write_cifar(
        tmp_path / "d" / "cifar100" / "cifar-100-python",
        {"train": 20, "test": 5},
        "fine_labels",
        100,
    )
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "d"))
    splits = data.load_splits("cifar100", val_fraction=0.25, test_subset=5)
    assert [len(s) for s in splits] == [15, 5, 5]
    assert splits.test.batch(range(5))[1].tolist() == written["test"]["fine_labels"]


# --- ImageNet folder ----------------------------------------------------------------------------


def test_imagenet_folder(tmp_path):
    rng = np.random.default_rng(2)
    for split, per_class in (("train", 4), ("val", 2)):
        for cls in ("n01", "n02"):
            folder = tmp_path / "inet" / split / cls
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (20, 24, 3), np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    splits = data.load_splits("imagenet", root=tmp_path / "inet", val_fraction=0.25)
    assert [len(s) for s in splits] == [6, 2, 4]
    for split in splits:
        image, label = split[0]
        assert image.shape == (3, 224, 224) and label in (0, 1)
    assert sorted(label for _, label in splits.test.samples) == [0, 0, 1, 1]


# --- missing data -------------------------------------------------------------------------------


def test_missing_fashion_mnist_under_explicit_root(tmp_path):
    with pytest.raises(ValueError) as err:
        data.load_splits("fashion-mnist", root=tmp_path / "nowhere")
    message = str(err.value)
    assert "\n" not in message
    assert str(tmp_path / "nowhere") in message
    assert "apt-get install dataset-fashion-mnist" in message


def test_missing_fashion_mnist_names_every_place(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "env"))
    monkeypatch.setattr(data, "SYSTEM_FASHION_MNIST", tmp_path / "system")
    with pytest.raises(ValueError) as err:
        data.load_splits("fashion-mnist", download=False)
    message = str(err.value)
    assert "\n" not in message
    for place in (tmp_path / "env" / "fashion-mnist", tmp_path / "env", tmp_path / "system"):
        assert str(place) in message
    assert "apt-get install dataset-fashion-mnist" in message and data.DATA_ENV in message


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "imagenet"])
def test_missing_other_datasets(tmp_path, monkeypatch, name):
    with pytest.raises(ValueError, match=f"{data.DATA_ENV} is unset"):
        data.load_splits(name)
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    with pytest.raises(ValueError) as err:
        data.load_splits(name)
    assert "\n" not in str(err.value) and str(tmp_path / name) in str(err.value)


# --- the real Fashion-MNIST ---------------------------------------------------------------------


@pytest.mark.skipif(
    not data.SYSTEM_FASHION_MNIST.is_dir(),
    reason=f"{data.SYSTEM_FASHION_MNIST} missing (apt-get install dataset-fashion-mnist)",
)
def test_real_fashion_mnist():
    splits = data.load_splits("fashion-mnist", val_fraction=0.1)
    assert [len(s) for s in splits] == [54000, 6000, 10000]
    assert len(splits.train) + len(splits.val) == 60000
    assert splits.train.labels.unique().tolist() == list(range(10))
    assert splits.test.labels.bincount().tolist() == [1000] * 10
    images, _ = splits.val.batch(range(len(splits.val)))
    assert abs(images.mean().item()) < 0.05 and abs(images.std().item() - 1) < 0.05


# --- damaged IDX files (issue 21 point 12) ----------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_idx_file_is_named_in_one_line(tmp_path, gz):
    _write_idx(tmp_path / "fm", _fake_mnist(), gz=False)
    images = tmp_path / "fm" / IDX_NAMES[("train", "images")]
    images.write_bytes(images.read_bytes()[:-100])  # cut short
    if gz:
        for path in (tmp_path / "fm").iterdir():
            path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
            path.unlink()
    with pytest.raises(ValueError, match="is truncated or padded") as info:
        data.load_splits("fashion-mnist", root=tmp_path / "fm")
    assert str(images) in str(info.value) and "\n" not in str(info.value)  # the user's file


def test_random_gz_is_blamed_not_the_cache_and_leaves_no_temp_file(tmp_path):
    _write_idx(tmp_path / "fm", _fake_mnist())
    bad = tmp_path / "fm" / (IDX_NAMES[("train", "labels")] + ".gz")
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match="is not a valid gzip file") as info:
        data.load_splits("fashion-mnist", root=tmp_path / "fm")
    assert str(bad) in str(info.value) and data.CACHE_ENV not in str(info.value)
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert all(p.name in IDX_NAMES.values() and p.stat().st_size for p in leftovers), leftovers


def test_header_that_is_not_idx_is_refused(tmp_path):
    _write_idx(tmp_path / "fm", _fake_mnist(), gz=False)
    labels = tmp_path / "fm" / IDX_NAMES[("test", "labels")]
    labels.write_bytes(b"GIF89a" + labels.read_bytes()[6:])
    with pytest.raises(ValueError, match="not a Fashion-MNIST IDX file"):
        data.load_splits("fashion-mnist", root=tmp_path / "fm")
