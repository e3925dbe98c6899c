"""The sparsebench checkpoint: one file with masked weights, bit-packed masks and metadata.

File layout (version 1)::

    MAGIC (16 bytes) | sha256(payload) (32 bytes) | payload

``payload`` is a ``torch.save``'d dict of plain tensors and strings, read back with
``torch.load(weights_only=True)`` (nothing else is ever unpickled)::

    {"format": "sparsebench-checkpoint", "version": 1,
     "meta": <JSON text>,                       # see below
     "state_dict": {key: tensor},               # the *masked* weights, BN statistics ...
     "masks": {layer: uint8 tensor}}            # numpy.packbits of the flattened bool mask

``meta`` holds model, dataset, pattern + params, recipe + hyper-parameters, seed, epochs,
top-1/top-5, the per-layer density table, ``mask_shapes``, ``mask_hash`` (sha256 over the
masks in sorted layer order), ``weights_hash`` (sha256 over the state dict in sorted key
order), software versions and the code (``sparsebench.provenance``: git commit, dirty
flag, source fingerprint); for a pattern that reorders channels
(``block`` with ``rearrange``) also ``channel_orders``: layer -> the output-channel order
its mask is blocked in (``pattern.layer_order``), which loading validates the mask in.

Loading refuses (``ValueError``, one line) a file that is missing, truncated, altered (the
payload digest, then both content hashes), foreign (no magic / no format marker), whose
masks break the pattern (``pattern.validate``) or whose pruned weights are not exactly zero.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

MAGIC = b"SPARSEBENCH-CK1\n"
FORMAT = "sparsebench-checkpoint"
VERSION = 1
_DIGEST = 32


def _meta(key: str, *, optional: bool = False) -> property:
    """A read-only attribute: ``meta[key]`` (None when ``optional`` and absent)."""
    if optional:
        return property(lambda self: self.meta.get(key), doc=f"meta[{key!r}] or None")
    return property(lambda self: self.meta[key], doc=f"meta[{key!r}]")


@dataclass
class Checkpoint:
    """A loaded (verified) checkpoint: ``state_dict`` holds the masked weights."""

    path: Path
    meta: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    masks: dict[str, torch.Tensor]

    @property
    def orders(self) -> dict[str, torch.Tensor]:
        """Layer -> stored output-channel order (only patterns that reorder channels)."""
        return {k: torch.tensor(v) for k, v in self.meta.get("channel_orders", {}).items()}

    def layer_patterns(self) -> dict[str, Any]:
        """Pruned layer -> its pattern, bound to the layer's channel order where it has one
        (what kernels pack a layer with)."""
        pattern, orders = self.pattern(), self.orders
        return {name: pattern.with_order(orders.get(name)) for name in self.masks}

    model = _meta("model")
    dataset = _meta("dataset")
    top1 = _meta("top1", optional=True)
    top5 = _meta("top5", optional=True)
    mask_hash = _meta("mask_hash")
    weights_hash = _meta("weights_hash")

    def pattern(self):
        """The ``patterns.Pattern`` the masks follow."""
        import patterns

        return patterns.make(self.meta["pattern"], **self.meta["pattern_params"])

    def build_model(self) -> torch.nn.Module:
        """Instantiate the model the checkpoint was trained as and load its masked weights."""
        from patterns import models

        model = models.create_model(
            self.model,
            num_classes=self.meta["num_classes"],
            in_channels=self.meta["in_channels"],
        )
        return self.load_into(model)

    def load_into(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` with this checkpoint's weights; ValueError (one line) when a name or a
        shape differs (a checkpoint of another model or another version of it)."""
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as exc:
            detail = " ".join(str(exc).split())[:300]
            raise ValueError(f"{self.path} does not fit {self.model} as this code builds it "
                             f"({detail}); retrain it or pass a checkpoint of this model"
                             ) from None
        return model


# --------------------------------------------------------------------------- hashing


def mask_hash(masks: dict[str, torch.Tensor]) -> str:
    """sha256 over ``name, shape, packbits(mask)`` for each layer in sorted name order."""
    h = hashlib.sha256()
    for name in sorted(masks):
        mask = masks[name]
        h.update(name.encode() + b"\0" + json.dumps(list(mask.shape)).encode() + b"\0")
        h.update(_pack(mask).numpy().tobytes())
    return h.hexdigest()


def weights_hash(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 over ``key, dtype, shape, raw bytes`` for each entry in sorted key order."""
    h = hashlib.sha256()
    for key in sorted(state_dict):
        t = state_dict[key].detach().cpu().contiguous()
        h.update(f"{key}\0{t.dtype}\0{list(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _pack(mask: torch.Tensor) -> torch.Tensor:
    bits = np.packbits(mask.detach().cpu().numpy().astype(bool).ravel())
    return torch.from_numpy(bits)


def _unpack(bits: torch.Tensor, shape: list[int]) -> torch.Tensor:
    count = int(np.prod(shape)) if shape else 1
    flat = np.unpackbits(bits.numpy(), count=count).astype(bool)
    return torch.from_numpy(flat.reshape(shape))


# --------------------------------------------------------------------------- save / load


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file normal rights
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def seal(magic: bytes, body: bytes) -> bytes:
    """``magic`` + sha256(body) + body: a file format whose every byte is checked on read."""
    return magic + hashlib.sha256(body).digest() + body


def unseal(magic: bytes, raw: bytes) -> bytes | None:
    """The body of ``raw`` written by ``seal(magic, ...)``; None when it was not, or when a
    byte of it changed since (truncated, altered)."""
    if not raw.startswith(magic):
        return None
    digest, body = raw[len(magic) : len(magic) + _DIGEST], raw[len(magic) + _DIGEST :]
    return body if hashlib.sha256(body).digest() == digest else None


def save_checkpoint(
    path: str | os.PathLike,
    *,
    state_dict: dict[str, torch.Tensor],
    masks: dict[str, torch.Tensor],
    meta: dict[str, Any],
) -> Checkpoint:
    """Write a checkpoint atomically; adds ``mask_shapes`` and both hashes to ``meta``.

    ``masks`` maps module names to bool masks of ``<name>.weight``; those weights must
    already be zero outside the mask (``RuntimeError`` otherwise: a trainer bug).
    """
    state = {k: v.detach().cpu().clone() for k, v in state_dict.items()}
    masks = {k: v.detach().cpu().bool() for k, v in masks.items()}
    for name, mask in masks.items():
        weight = state.get(f"{name}.weight")
        if weight is None or tuple(weight.shape) != tuple(mask.shape):
            raise RuntimeError(f"mask {name!r} has no weight of shape {tuple(mask.shape)}")
        if bool((weight[~mask] != 0).any()):
            raise RuntimeError(f"layer {name!r} has non-zero weights outside its mask")
    meta = dict(meta)
    orders = _channel_orders(meta, masks)
    if orders:
        meta["channel_orders"] = orders
    meta["mask_shapes"] = {k: list(v.shape) for k, v in masks.items()}
    meta["mask_hash"] = mask_hash(masks)
    meta["weights_hash"] = weights_hash(state)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "meta": json.dumps(meta, sort_keys=True),
        "state_dict": state,
        "masks": {k: _pack(v) for k, v in masks.items()},
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    body = buf.getvalue()
    atomic_write_bytes(Path(path), seal(MAGIC, body))
    return Checkpoint(Path(path), meta, state, masks)


def _channel_orders(meta: dict[str, Any], masks: dict[str, torch.Tensor]) -> dict[str, list]:
    """Layer -> channel order of its mask, for a pattern in ``meta`` that reorders channels."""
    if "pattern" not in meta:
        return {}
    import patterns

    pattern = patterns.make(meta["pattern"], **meta.get("pattern_params", {}))
    orders = {name: pattern.layer_order(mask) for name, mask in masks.items()}
    return {name: order.tolist() for name, order in orders.items() if order is not None}


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read and verify a checkpoint; any defect -> ``ValueError`` with one line."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a checkpoint file; pass the checkpoint.pt "
                         "inside it")
    if not path.is_file():
        raise ValueError(f"{path} does not exist; train it with `sparsebench train` first")
    raw = path.read_bytes()
    if not raw.startswith(MAGIC):
        _foreign(path, "it does not start with the sparsebench header")
    body = unseal(MAGIC, raw)
    if body is None:
        _corrupt(path, "its content digest does not match (truncated or altered)")
    try:
        payload = torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged zip or pickle
        _corrupt(path, f"torch.load failed ({type(exc).__name__})")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        _foreign(path, "it has no sparsebench format marker")
    if payload.get("version") != VERSION:
        _foreign(path, f"format version {payload.get('version')!r}, this code reads {VERSION}")
    try:
        meta = json.loads(payload["meta"])
        state = dict(payload["state_dict"])
        shapes = meta["mask_shapes"]
        masks = {k: _unpack(v, shapes[k]) for k, v in payload["masks"].items()}
    except (KeyError, TypeError, ValueError) as exc:
        _corrupt(path, f"malformed content ({type(exc).__name__}: {exc})")
    if weights_hash(state) != meta.get("weights_hash"):
        _corrupt(path, "weights hash mismatch")
    if mask_hash(masks) != meta.get("mask_hash"):
        _corrupt(path, "mask hash mismatch")
    _check_masks(path, meta, state, masks)
    return Checkpoint(path, meta, state, masks)


def _check_masks(path: Path, meta: dict, state: dict, masks: dict) -> None:
    import patterns

    try:
        pattern = patterns.make(meta["pattern"], **meta["pattern_params"])
    except (KeyError, TypeError, ValueError) as exc:
        _corrupt(path, f"its pattern is not valid ({exc})")
    orders = meta.get("channel_orders", {})
    for name, mask in masks.items():
        weight = state.get(f"{name}.weight")
        if weight is None or tuple(weight.shape) != tuple(mask.shape):
            _corrupt(path, f"mask of layer {name!r} matches no weight")
        try:
            pattern.with_order(orders.get(name)).validate(mask)
        except ValueError as exc:
            _corrupt(path, f"mask of layer {name!r} breaks {meta['pattern']} ({exc})")
        if bool((weight[~mask] != 0).any()):
            _corrupt(path, f"layer {name!r} has non-zero weights where its mask prunes")


def _foreign(path: Path, why: str):
    raise ValueError(f"{path} is not a sparsebench checkpoint: {why}; retrain or restore it")


def _corrupt(path: Path, why: str):
    raise ValueError(f"{path} is corrupt: {why}; retrain or restore it")
