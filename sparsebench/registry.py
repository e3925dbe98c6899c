"""One registry behaviour for every name -> thing table the project fills by decorators
(patterns, models, data sets, recipes, backends, executors, packers, sub-commands ...).

A name registered twice is a programming error (``ValueError``). An unknown name raises
``UnknownName`` -- a ``KeyError`` (so the registry is an ordinary read-only ``Mapping``) and a
``ValueError`` (so the CLI reports it as bad input, exit status 2) -- whose one-line message
names the closest valid name and lists them all.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

__all__ = ["Registry", "UnknownName", "did_you_mean"]

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")


def did_you_mean(name: object, valid: Iterable[object]) -> str:
    """`` (did you mean 'x'?)`` for the valid name closest to ``name``; '' when none is."""
    close = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class UnknownName(KeyError, ValueError):
    """A name no entry is registered under; ``str()`` is the one-line message."""

    def __str__(self) -> str:
        return str(self.args[0])


class Registry(Mapping[K, V], Generic[K, V]):
    """Entries in registration order; read like a dict, filled only by ``add``/``register``.

    ``kind`` names an entry in messages ("pattern", "recipe"); ``unknown`` overrides the
    head of the unknown-name message (a ``str.format`` template over ``name``).
    """

    def __init__(self, kind: str, *, unknown: str | None = None) -> None:
        self.kind = kind
        self._unknown = unknown or f"unknown {kind} {{name!r}}"
        self._entries: dict[K, V] = {}

    def add(self, name: K, entry: V) -> V:
        """Register ``entry`` as ``name``; ValueError when the name is taken."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice; {self.kind} names "
                             "are unique")
        self._entries[name] = entry
        return entry

    def register(self, *names: K, entry: Callable[[T], V] | None = None
                 ) -> Callable[[T], T]:
        """Decorator: register the decorated object -- or ``entry(obj)``, a record holding
        it -- under each of ``names``; the object itself is returned unchanged."""

        def decorate(obj: T) -> T:
            for name in names:
                self.add(name, obj if entry is None else entry(obj))  # type: ignore[arg-type]
            return obj

        return decorate

    def remove(self, name: K) -> V:
        """Take ``name`` out again (a test's temporary entry); its entry."""
        return self._entries.pop(name)

    @contextmanager
    def override(self, name: K, entry: V) -> Iterator[V]:
        """Within the ``with`` block ``name`` is ``entry`` (a test's stand-in for a real
        entry, kept at the real one's place in the order); afterwards it is what it was."""
        missing = object()
        before = self._entries.get(name, missing)
        self._entries[name] = entry
        try:
            yield entry
        finally:
            if before is missing:
                del self._entries[name]
            else:
                self._entries[name] = before  # type: ignore[assignment]

    def __getitem__(self, name: K) -> V:
        try:
            return self._entries[name]
        except (KeyError, TypeError):  # TypeError: an unhashable name is unknown too
            raise self.unknown(name) from None

    def unknown(self, name: Any) -> UnknownName:
        """The error for a name that is not registered (raise it)."""
        valid = list(self._entries)
        head = self._unknown.format(name=name)
        return UnknownName(f"{head}{did_you_mean(name, valid)}; choose one of: "
                           f"{', '.join(str(v) for v in valid)}")

    def __contains__(self, name: object) -> bool:
        try:
            return name in self._entries
        except TypeError:
            return False

    def __iter__(self) -> Iterator[K]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)!r})"
