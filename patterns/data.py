"""The data-set registry: where each data set lives, how it is read, split and normalised.

Small data sets (Fashion-MNIST, CIFAR) are held whole in memory as one uint8 tensor;
normalisation and augmentation are tensor ops applied to a whole batch at once (through
``Dataset.__getitems__``, which ``torch.utils.data.DataLoader`` calls with a batch of
indices), because torchvision's PIL-per-image path is the bottleneck when training on two
CPU cores. ImageNet (an ImageFolder) is read image by image with torchvision transforms.

Look-up order for a data set ``name``: the explicit ``root`` argument (and nothing else when
it is given), then ``$SPARSEBENCH_DATA/<name>``, ``$SPARSEBENCH_DATA``, the system folder
(``/usr/share/datasets/fashion-mnist`` from the Debian package ``dataset-fashion-mnist``),
then torchvision's download (Fashion-MNIST only).
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import pickle
import shutil
import tempfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np
import torch
import torchvision
from torch.utils.data import Dataset
from torchvision import transforms

from sparsebench.registry import Registry

PathLike = str | os.PathLike[str]
DATA_ENV = "SPARSEBENCH_DATA"
CACHE_ENV = "SPARSEBENCH_CACHE"
SYSTEM_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@dataclass(frozen=True)
class DatasetInfo:
    """Shape of a data set's samples: channels, square image size, number of classes."""

    name: str
    channels: int
    image_size: int
    num_classes: int


class Splits(NamedTuple):
    """Train (augmented), validation (held out of the train set) and test data sets."""

    train: Dataset
    val: Dataset
    test: Dataset


# --- in-memory tensor data sets --------------------------------------------------------------


@dataclass(frozen=True)
class Augment:
    """Random crop after zero-padding by ``pad`` pixels, and (optionally) horizontal flips."""

    pad: int
    flip: bool

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Augment a uint8 batch (B, C, H, W) with one gather; uses torch's global RNG."""
        b, c, h, w = images.shape
        p = self.pad
        padded = torch.nn.functional.pad(images, (p,) * 4) if p else images
        top = torch.randint(0, 2 * p + 1, (b, 1, 1))
        left = torch.randint(0, 2 * p + 1, (b, 1, 1))
        cols = torch.arange(w).view(1, 1, w)
        if self.flip:
            cols = torch.where(torch.rand(b, 1, 1) < 0.5, cols.flip(-1), cols)
        rows = top + torch.arange(h).view(1, h, 1)
        index = (rows * (w + 2 * p) + left + cols).view(b, 1, h * w).expand(b, c, h * w)
        return padded.reshape(b, c, -1).gather(2, index).view(b, c, h, w)


class TensorImageDataset(Dataset):
    """Images held as one uint8 tensor (N, C, H, W) with int64 labels.

    Items are ``(float32 tensor (C, H, W), int label)``, normalised per channel and, when
    ``augment`` is set, randomly augmented. ``indices`` are the positions of these images in
    the original split (train or test file), kept for provenance and determinism checks.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        mean: Sequence[float],
        std: Sequence[float],
        augment: Augment | None = None,
        indices: torch.Tensor | None = None,
    ) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4 or len(images) != len(labels):
            raise ValueError("images must be uint8 (N, C, H, W) with one label per image")
        self.images = images
        self.labels = labels.long()
        self.mean, self.std = tuple(mean), tuple(std)
        self.augment = augment
        self.indices = torch.arange(len(images)) if indices is None else indices
        std_t = torch.tensor(self.std).view(-1, 1, 1)
        self._scale = 1.0 / (255.0 * std_t)
        self._shift = torch.tensor(self.mean).view(-1, 1, 1) / std_t

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, indices: Sequence[int] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (B, C, H, W) float32, normalised and augmented, and labels (B,) int64."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        images = self.images.index_select(0, idx)
        if self.augment is not None:
            images = self.augment(images)
        return images.float().mul_(self._scale).sub_(self._shift), self.labels.index_select(0, idx)

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, int]]:
        """Batch fetch used by DataLoader: one vectorised transform for the whole batch."""
        images, labels = self.batch(indices)
        return list(zip(images.unbind(0), labels.tolist(), strict=True))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.__getitems__([index])[0]

    def subset(self, indices: torch.Tensor) -> TensorImageDataset:
        """The images at ``indices`` (copied), with the same normalisation and augmentation."""
        return TensorImageDataset(
            self.images[indices],
            self.labels[indices],
            mean=self.mean,
            std=self.std,
            augment=self.augment,
            indices=self.indices[indices],
        )


# --- image folders (ImageNet) ----------------------------------------------------------------


class FolderImageDataset(Dataset):
    """``(path, label)`` samples of an ImageFolder, read with PIL and a torchvision transform."""

    def __init__(
        self,
        samples: Sequence[tuple[str, int]],
        transform: Callable,
        indices: torch.Tensor | None = None,
    ) -> None:
        self.samples = list(samples)
        self.transform = transform
        self.indices = torch.arange(len(self.samples)) if indices is None else indices

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        return self.transform(torchvision.datasets.folder.default_loader(path)), label

    def subset(self, indices: torch.Tensor) -> FolderImageDataset:
        """The samples at ``indices``, with the same transform."""
        picked = [self.samples[i] for i in indices.tolist()]
        return FolderImageDataset(picked, self.transform, self.indices[indices])


class _Splittable(Protocol):
    def __len__(self) -> int: ...
    def subset(self, indices: torch.Tensor) -> Dataset: ...


class _Source(NamedTuple):
    """A data set as loaded: train (augmented), train without augmentation, test."""

    train: _Splittable
    train_plain: _Splittable
    test: _Splittable


# --- registry --------------------------------------------------------------------------------

Loader = Callable[[Path | None, bool, bool], _Source]  # (root or None, augment, download)


@dataclass(frozen=True)
class _Entry:
    info: DatasetInfo
    load: Loader


DATASETS: Registry[str, _Entry] = Registry("data set")


def register(info: DatasetInfo) -> Callable[[Loader], Loader]:
    """Decorator adding ``load(root, augment, download) -> _Source`` as ``info.name``."""
    return DATASETS.register(info.name, entry=lambda load: _Entry(info, load))


def available_datasets() -> list[str]:
    """Names accepted by :func:`load_splits`, in registration order."""
    return list(DATASETS)


def dataset_info(name: str) -> DatasetInfo:
    """Channels, image size and class count of data set ``name``."""
    return DATASETS[name].info


def load_splits(
    name: str,
    *,
    root: PathLike | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    train_subset: int | None = None,
    test_subset: int | None = None,
    augment: bool = True,
    download: bool = True,
) -> Splits:
    """Load data set ``name`` and split its train set into train and validation.

    The split is a seeded permutation of the train set: the first ``val_fraction`` of it is
    validation (never augmented), the rest training; ``train_subset`` / ``test_subset`` keep
    that many images chosen by the same seed. Same arguments -> same images, on any machine.
    ``augment=False`` turns training augmentation off; ``download=False`` forbids a network
    download (Fashion-MNIST is the only one torchvision can fetch).
    """
    entry = DATASETS[name]
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    source = entry.load(None if root is None else Path(root).expanduser(), augment, download)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(source.train), generator=generator)
    n_val = round(len(order) * val_fraction)
    val_idx, train_idx = order[:n_val], order[n_val:]
    train_idx = train_idx[: _subset_size("train_subset", train_subset, len(train_idx))]
    test_order = torch.randperm(len(source.test), generator=generator)
    test_idx = test_order[: _subset_size("test_subset", test_subset, len(test_order))]
    return Splits(
        train=source.train.subset(train_idx.sort().values),
        val=source.train_plain.subset(val_idx.sort().values),
        test=source.test.subset(test_idx.sort().values),
    )


def _subset_size(arg: str, size: int | None, available: int) -> int:
    if size is None:
        return available
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= available:
        raise ValueError(f"{arg} must be an integer in [1, {available}], got {size!r}")
    return size


def _candidates(name: str, root: Path | None, system: Sequence[Path] = ()) -> list[Path]:
    """Folders to search for ``name``: the explicit root alone, else env folders then system."""
    if root is not None:
        return [root]
    env = os.environ.get(DATA_ENV)
    found = [Path(env).expanduser() / name, Path(env).expanduser()] if env else []
    return found + list(system)


def _looked(folders: Sequence[Path]) -> str:
    return ", ".join(str(f) for f in folders) if folders else f"nowhere (${DATA_ENV} is unset)"


def _tensor_source(
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    *,
    mean: Sequence[float],
    std: Sequence[float],
    augment: Augment | None,
) -> _Source:
    norm = {"mean": mean, "std": std}
    return _Source(
        train=TensorImageDataset(*train, augment=augment, **norm),
        train_plain=TensorImageDataset(*train, **norm),
        test=TensorImageDataset(*test, **norm),
    )


# --- Fashion-MNIST ---------------------------------------------------------------------------

_IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _find_idx_files(folder: Path) -> list[Path] | None:
    """The four IDX files (plain or .gz) in ``folder`` or its torchvision layout, else None."""
    found = []
    for base in _IDX_FILES:
        options = [
            d / f for d in (folder / "FashionMNIST" / "raw", folder) for f in (base, base + ".gz")
        ]
        path = next((p for p in options if p.is_file()), None)
        if path is None:
            return None
        found.append(path)
    return found


def _cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "sparsebench")


def _torchvision_root(files: list[Path]) -> Path:
    """A root where ``FashionMNIST/raw/`` holds the four files uncompressed.

    The files' own folder when they already are; otherwise a cache folder keyed by the
    sources' paths, sizes and times, filled once by decompressing (write temp, then rename,
    so a concurrent or interrupted run never sees a half-written file).
    """
    if all(p.suffix != ".gz" and p.parent.parts[-2:] == ("FashionMNIST", "raw") for p in files):
        return files[0].parent.parent.parent
    stamp = "|".join(f"{p.resolve()}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    root = _cache_root() / "fashion-mnist" / hashlib.sha256(stamp.encode()).hexdigest()[:16]
    raw = root / "FashionMNIST" / "raw"
    try:
        raw.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(
            f"cannot write the decompressed Fashion-MNIST cache in {raw} ({err.strerror}); "
            f"set {CACHE_ENV} to a writable folder"
        ) from None
    for src, base in zip(files, _IDX_FILES, strict=True):
        if not (raw / base).is_file():
            _decompress(src, raw / base)
    return root


def _decompress(src: Path, dest: Path) -> None:
    """Copy ``src`` (gzip or plain) to ``dest`` through a temp file that never stays behind."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        opener = gzip.open if src.suffix == ".gz" else open
        with os.fdopen(fd, "wb") as fout, opener(src, "rb") as fin:
            shutil.copyfileobj(fin, fout)
        os.replace(tmp, dest)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise ValueError(f"{src} is not a valid gzip file ({err}); replace it with an intact "
                         "copy (`apt-get install --reinstall dataset-fashion-mnist`)") from None
    except OSError as err:
        raise ValueError(
            f"cannot write the decompressed Fashion-MNIST cache in {dest.parent} "
            f"({err.strerror}); set {CACHE_ENV} to a writable folder"
        ) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _check_idx(path: Path, source: Path | None = None) -> None:
    """ValueError naming ``source`` (the file ``path`` was decompressed from; default
    ``path``) when ``path`` is not a complete uint8 IDX file (truncated, wrong kind):
    torchvision would only fail an assertion deep inside its reader."""
    shown = source or path
    with open(path, "rb") as fh:
        header = fh.read(4)
        dims = header[3] if len(header) == 4 else 0
        sizes = fh.read(4 * dims)
    expected = 0x801 if "labels" in path.name else 0x803  # uint8, 1-D labels / 3-D images
    if int.from_bytes(header, "big") != expected or len(sizes) < 4 * dims:
        raise ValueError(f"{shown} is not a Fashion-MNIST IDX file (bad header); replace it "
                         "with an intact copy")
    count = math.prod(int.from_bytes(sizes[i:i + 4], "big") for i in range(0, 4 * dims, 4))
    actual = path.stat().st_size - 4 - 4 * dims
    if actual != count:
        raise ValueError(f"{shown} is truncated or padded: {actual} data bytes, its header "
                         f"says {count}; replace it with an intact copy")


def _download_fashion_mnist() -> tuple[Path | None, str]:
    """torchvision's download into the cache; (root, '') or (None, why it failed)."""
    root = _cache_root() / "fashion-mnist" / "download"
    try:
        torchvision.datasets.FashionMNIST(root, train=True, download=True)
    except Exception as err:  # any failure (no network, bad mirror) means "no download"
        return None, " ".join(str(err).split())[:200]
    return root, ""


@register(DatasetInfo("fashion-mnist", channels=1, image_size=28, num_classes=10))
def _fashion_mnist(root: Path | None, augment: bool, download: bool) -> _Source:
    folders = _candidates("fashion-mnist", root, [SYSTEM_FASHION_MNIST])
    files = next((f for f in map(_find_idx_files, folders) if f is not None), None)
    if files is not None:
        tv_root = _torchvision_root(files)
    elif root is None:
        tv_root, failure = _download_fashion_mnist() if download else (None, "download=False")
        if tv_root is None:
            raise ValueError(
                f"Fashion-MNIST not found: looked for {_IDX_FILES[0]}[.gz] and the other IDX "
                f"files in {_looked(folders)}, and did not download it ({failure}); "
                f"install it with `apt-get install dataset-fashion-mnist`, "
                f"or set {DATA_ENV} / pass root= to a folder holding the IDX files"
            )
    else:
        raise ValueError(
            f"Fashion-MNIST not found: no {_IDX_FILES[0]}[.gz] and the other IDX files in "
            f"{root}; pass root= a folder holding them, or drop root= to use ${DATA_ENV}, "
            f"{SYSTEM_FASHION_MNIST} (`apt-get install dataset-fashion-mnist`) or a download"
        )
    for base, source in zip(_IDX_FILES, files or [None] * len(_IDX_FILES), strict=True):
        _check_idx(tv_root / "FashionMNIST" / "raw" / base, source)
    splits = [
        torchvision.datasets.FashionMNIST(tv_root, train=train, download=False)
        for train in (True, False)
    ]
    return _tensor_source(
        *[(s.data.unsqueeze(1), s.targets) for s in splits],
        mean=(0.2860,),
        std=(0.3530,),
        augment=Augment(pad=2, flip=False) if augment else None,
    )


# --- CIFAR-10 / CIFAR-100 --------------------------------------------------------------------


def _register_cifar(
    info: DatasetInfo, tv_class: type, mean: Sequence[float], std: Sequence[float]
) -> None:
    """Register a loader for torchvision's python-pickle CIFAR layout (root/<base_folder>/).

    The batches are read directly (same format and file list as ``tv_class``) because
    torchvision re-checks the md5 of every batch on each load, which is slow and refuses
    files written by tests.
    """
    folder_name = tv_class.base_folder
    train_files = [n for n, _ in tv_class.train_list]
    test_files = [n for n, _ in tv_class.test_list]

    def read(folder: Path, files: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        data, labels = [], []
        for file in files:
            with open(folder / file, "rb") as f:
                entry = pickle.load(f, encoding="latin1")
            data.append(entry["data"])
            labels.extend(entry["labels"] if "labels" in entry else entry["fine_labels"])
        images = torch.from_numpy(np.vstack(data).reshape(-1, 3, 32, 32))
        return images, torch.tensor(labels, dtype=torch.long)

    @register(info)
    def load(root: Path | None, augment: bool, download: bool) -> _Source:
        folders = _candidates(info.name, root)
        complete = (
            d
            for base in folders
            for d in (base / folder_name, base)
            if all((d / n).is_file() for n in train_files + test_files)
        )
        folder = next(complete, None)
        if folder is None:
            raise ValueError(
                f"{info.name} not found: looked for {folder_name}/ in {_looked(folders)}; "
                f"download and unpack {tv_class.url} into a folder, then pass root= or set "
                f"{DATA_ENV} to it"
            )
        return _tensor_source(
            read(folder, train_files),
            read(folder, test_files),
            mean=mean,
            std=std,
            augment=Augment(pad=4, flip=True) if augment else None,
        )


_register_cifar(
    DatasetInfo("cifar10", channels=3, image_size=32, num_classes=10),
    torchvision.datasets.CIFAR10,
    mean=(0.4914, 0.4822, 0.4465),
    std=(0.2470, 0.2435, 0.2616),
)
_register_cifar(
    DatasetInfo("cifar100", channels=3, image_size=32, num_classes=100),
    torchvision.datasets.CIFAR100,
    mean=(0.5071, 0.4865, 0.4409),
    std=(0.2673, 0.2564, 0.2762),
)


# --- ImageNet (ImageFolder) ------------------------------------------------------------------

_IMAGENET_NORM = transforms.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


@register(DatasetInfo("imagenet", channels=3, image_size=224, num_classes=1000))
def _imagenet(root: Path | None, augment: bool, download: bool) -> _Source:
    folders = _candidates("imagenet", root)
    found = next((d for d in folders if (d / "train").is_dir() and (d / "val").is_dir()), None)
    if found is None:
        raise ValueError(
            f"ImageNet not found: looked for train/ and val/ class folders in "
            f"{_looked(folders)}; pass root= or set {DATA_ENV} to a folder laid out as "
            f"root/train/<class>/*.JPEG and root/val/<class>/*.JPEG"
        )
    train, val = (torchvision.datasets.ImageFolder(found / split) for split in ("train", "val"))
    if train.classes != val.classes:
        raise ValueError(
            f"ImageNet at {found}: train/ has {len(train.classes)} classes and val/ "
            f"{len(val.classes)}; both must hold the same class folders"
        )
    plain = transforms.Compose(
        [transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(), _IMAGENET_NORM]
    )
    augmented = transforms.Compose(
        [
            transforms.RandomResizedCrop(224),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            _IMAGENET_NORM,
        ]
    )
    return _Source(
        train=FolderImageDataset(train.samples, augmented if augment else plain),
        train_plain=FolderImageDataset(train.samples, plain),
        test=FolderImageDataset(val.samples, plain),
    )
