"""The results store: compact results (:mod:`samplechop.service.api.results`) kept under random ids, in any fsspec
filesystem.

A local directory by default; point several replicas at one shared URL (``s3://bucket/prefix``, an NFS path) and
each serves the others' ids. Entries are written whole or not at all (a temporary name, then a move; object stores
publish an object only when its upload completes, so they are written in place).

Bounded two ways, both enforced by :meth:`ResultStore.sweep`: an entry older than the TTL is gone (reads check its
modification time too), and when the entries add up to more than :data:`HIGH_WATER` of ``max_bytes`` the oldest
go first until they are down to :data:`LOW_WATER` of it. Each process sweeps on a timer (see ``app.py``) and,
once what it knows of the store's size (its last listing plus its own writes since) passes :data:`WATCH_FROM` of
the cap, after each of its writes. Other replicas' writes are seen at the next listing, so the cap itself is
passed only if all writers together add more than 1 − HIGH_WATER of it between two listings.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import fsspec
from fsspec import AbstractFileSystem

logger = logging.getLogger("samplechop.store")

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16): 128 random bits
SUFFIX = ".chop"
PARTIAL_MARK = ".partial-"
# Object stores make an upload visible only when it completes: writing in place is already atomic there.
ATOMIC_PUT_PROTOCOLS = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory"}
PARTIAL_GRACE_S = 3600.0  # a partial write older than this (and the TTL) was abandoned
# Size eviction starts past 90 % of the cap and goes down to 80 %: the 10 % above is headroom for what other
# replicas write between two listings, the 10 % below keeps a busy store from evicting on every single write.
HIGH_WATER = 0.9
LOW_WATER = 0.8
# Past half the cap, each write lists the store (on S3, one LIST request per ~1,000 results: a few ms, against a
# chop's hundreds) so that eviction keeps up with every replica's writes, not only this one's.
WATCH_FROM = 0.5


def new_id() -> str:
    return secrets.token_urlsafe(16)


def valid_id(result_id: str) -> bool:
    return ID_PATTERN.fullmatch(result_id) is not None


def _epoch(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    return None


@dataclass
class StoredEntry:
    """An open stored entry; the caller closes ``handle``."""

    result_id: str
    size: int | None
    modified: float
    expires: float
    handle: IO[bytes]


@dataclass(frozen=True)
class Sweep:
    """What one sweep found and did."""

    entries: int
    total_bytes: int
    expired: int
    evicted: int


@dataclass(frozen=True)
class _Listed:
    path: str
    size: int
    modified: float
    partial: bool


class ResultStore:
    """Entries named ``<id>.chop`` under one fsspec URL. Thread-safe; call it from worker threads (it blocks)."""

    def __init__(
        self,
        url: str,
        ttl_s: float,
        *,
        max_bytes: int | None = None,
        storage_options: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self.clock = clock
        self.fs: AbstractFileSystem
        self.fs, self.root = fsspec.url_to_fs(url, **dict(storage_options or {}))
        self.root = self.root.rstrip("/") or "/"
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple | list) else (self.fs.protocol,)
        self.atomic_put = any(protocol in ATOMIC_PUT_PROTOCOLS for protocol in protocols)
        self.fs.makedirs(self.root, exist_ok=True)
        self._sweep_lock = threading.Lock()
        self._size_lock = threading.Lock()
        self._known_bytes = 0  # the store's size at the last sweep plus this process's writes since

    def _path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def put(self, result_id: str, data: bytes) -> None:
        """Store ``data`` under ``result_id`` (from :func:`new_id`); sweeps first when that would pass the cap."""
        if not valid_id(result_id):
            raise ValueError(f"not a result id: {result_id!r}")
        final = self._path(result_id + SUFFIX)
        if self.atomic_put:
            self.fs.pipe_file(final, data)
        else:
            partial = self._path(f"{PARTIAL_MARK}{result_id}-{secrets.token_hex(4)}")
            try:
                self.fs.pipe_file(partial, data)
                self.fs.mv(partial, final)
            except BaseException:
                self._remove(partial)
                raise
        with self._size_lock:
            self._known_bytes += len(data)
            watch = self.max_bytes is not None and self._known_bytes > WATCH_FROM * self.max_bytes
        if watch:
            self.sweep_quietly(wait=False)

    def _modified(self, path: str, info: Mapping[str, Any]) -> float:
        for key in ("mtime", "LastModified", "last_modified", "modified", "created"):
            when = _epoch(info.get(key))
            if when is not None:
                return when
        return self.fs.modified(path).timestamp()

    def open(self, result_id: str) -> StoredEntry | None:
        """The live entry of this id, opened for reading; None when the id is malformed, unknown or expired."""
        if not valid_id(result_id):
            return None
        path = self._path(result_id + SUFFIX)
        try:
            self.fs.invalidate_cache(path)  # another replica may have written it since this one last listed
            info = self.fs.info(path)
            modified = self._modified(path, info)
            if self.clock() - modified > self.ttl_s:
                self._remove(path)
                return None
            handle = self.fs.open(path, "rb")
        except FileNotFoundError:
            return None
        size = info.get("size")
        return StoredEntry(result_id, int(size) if size is not None else None, modified, modified + self.ttl_s, handle)

    def read(self, result_id: str) -> bytes | None:
        entry = self.open(result_id)
        if entry is None:
            return None
        with entry.handle:
            return entry.handle.read()

    def _list(self) -> list[_Listed]:
        self.fs.invalidate_cache(self.root)
        listed = []
        for info in self.fs.ls(self.root, detail=True):
            path = info["name"]
            name = path.rsplit("/", 1)[-1]
            partial = name.startswith(PARTIAL_MARK)
            if not partial and not (name.endswith(SUFFIX) and valid_id(name[: -len(SUFFIX)])):
                continue
            try:
                modified = self._modified(path, info)
            except FileNotFoundError:
                continue
            listed.append(_Listed(path, int(info.get("size") or 0), modified, partial))
        self.fs.invalidate_cache(self.root)
        return listed

    def sweep(self, *, wait: bool = True) -> Sweep | None:
        """Remove expired entries and abandoned partial writes, then the oldest entries when the store is over
        ``HIGH_WATER`` of its cap (down to ``LOW_WATER`` of it). Safe to run in every replica at once. With
        ``wait=False`` it returns None at once when this process is already sweeping."""
        if not self._sweep_lock.acquire(blocking=wait):
            return None
        try:
            now = self.clock()
            kept: list[_Listed] = []
            expired = evicted = 0
            for entry in self._list():
                limit = max(self.ttl_s, PARTIAL_GRACE_S) if entry.partial else self.ttl_s
                if now - entry.modified > limit:
                    expired += self._remove(entry.path)
                else:
                    kept.append(entry)
            total = sum(entry.size for entry in kept)
            if self.max_bytes is not None and total > HIGH_WATER * self.max_bytes:
                target = LOW_WATER * self.max_bytes
                for entry in sorted((e for e in kept if not e.partial), key=lambda e: e.modified):
                    if total <= target:
                        break
                    if self._remove(entry.path):
                        evicted += 1
                    total -= entry.size  # gone, whoever removed it
            with self._size_lock:
                self._known_bytes = total
            return Sweep(len(kept) - evicted, total, expired, evicted)
        finally:
            self._sweep_lock.release()

    def sweep_quietly(self, *, wait: bool = True) -> Sweep | None:
        """:meth:`sweep`, logging instead of raising: sweeping is housekeeping, it must not fail a request."""
        try:
            return self.sweep(wait=wait)
        except Exception:
            logger.warning("sweeping the results store %s failed", self.url, exc_info=True)
            return None

    def _remove(self, path: str) -> bool:
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            return False
        except OSError:
            logger.warning("cannot remove %s", path, exc_info=True)
            return False
        return True
