"""The results store: chop zips kept under random ids for ``result_ttl_s`` seconds, in any fsspec filesystem.

A local directory by default; point several replicas at one shared URL (``s3://bucket/prefix``, an NFS path) and
each serves the others' ids. Entries are written whole or not at all (a temporary name, then a move; object stores
publish an object only when its upload completes, so they are written in place). An entry older than the TTL is
gone: reads check its modification time, and writers purge expired entries now and then.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import fsspec
from fsspec import AbstractFileSystem

logger = logging.getLogger("samplechop.store")

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16): 128 random bits
SUFFIX = ".zip"
PARTIAL_MARK = ".partial-"
# Object stores make an upload visible only when it completes: writing in place is already atomic there.
ATOMIC_PUT_PROTOCOLS = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory"}
CHUNK_BYTES = 256 * 1024
PARTIAL_GRACE_S = 3600.0  # a partial write older than this (and the TTL) was abandoned


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
class StoredResult:
    """An open stored entry: read it with :meth:`chunks`, which closes it at the end."""

    result_id: str
    size: int | None
    modified: float
    expires: float
    handle: IO[bytes]

    def chunks(self) -> Iterator[bytes]:
        try:
            while chunk := self.handle.read(CHUNK_BYTES):
                yield chunk
        finally:
            self.handle.close()

    def close(self) -> None:
        self.handle.close()


class ResultStore:
    """Zip files named ``<id>.zip`` under one fsspec URL. Thread-safe; call it from worker threads (it blocks)."""

    def __init__(self, url: str, ttl_s: float, *, clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self.ttl_s = ttl_s
        self.clock = clock
        self.fs: AbstractFileSystem
        self.fs, self.root = fsspec.url_to_fs(url)
        self.root = self.root.rstrip("/") or "/"
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple | list) else (self.fs.protocol,)
        self.atomic_put = any(protocol in ATOMIC_PUT_PROTOCOLS for protocol in protocols)
        self.fs.makedirs(self.root, exist_ok=True)
        self.purge_every_s = min(60.0, ttl_s)
        self._last_purge = 0.0
        self._purge_lock = threading.Lock()

    def _path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def put(self, result_id: str, write: Callable[[IO[bytes]], None]) -> None:
        """Store what ``write`` writes to the file it is given under ``result_id`` (from :func:`new_id`)."""
        if not valid_id(result_id):
            raise ValueError(f"not a result id: {result_id!r}")
        final = self._path(result_id + SUFFIX)
        if self.atomic_put:
            with self.fs.open(final, "wb") as target:
                write(target)
        else:
            partial = self._path(f"{PARTIAL_MARK}{result_id}-{secrets.token_hex(4)}")
            try:
                with self.fs.open(partial, "wb") as target:
                    write(target)
                self.fs.mv(partial, final)
            except BaseException:
                self._remove(partial)
                raise
        self.maybe_purge()

    def _modified(self, path: str, info: dict[str, Any]) -> float:
        for key in ("mtime", "LastModified", "last_modified", "modified", "created"):
            when = _epoch(info.get(key))
            if when is not None:
                return when
        return self.fs.modified(path).timestamp()

    def open(self, result_id: str) -> StoredResult | None:
        """The live entry of this id, opened for reading; None when the id is malformed, unknown or expired."""
        if not valid_id(result_id):
            return None
        path = self._path(result_id + SUFFIX)
        try:
            info = self.fs.info(path)
            modified = self._modified(path, info)
            if self.clock() - modified > self.ttl_s:
                self._remove(path)
                return None
            handle = self.fs.open(path, "rb")
        except FileNotFoundError:
            return None
        size = info.get("size")
        return StoredResult(result_id, int(size) if size is not None else None, modified, modified + self.ttl_s, handle)

    def read(self, result_id: str) -> bytes | None:
        stored = self.open(result_id)
        if stored is None:
            return None
        with stored.handle:
            return stored.handle.read()

    def maybe_purge(self) -> None:
        """Purge expired entries, at most once every ``purge_every_s`` seconds per process."""
        now = self.clock()
        with self._purge_lock:
            if now - self._last_purge < self.purge_every_s:
                return
            self._last_purge = now
        try:
            self.purge()
        except Exception:  # purging is best effort: a failure must not fail the request that triggered it
            logger.warning("purging expired results from %s failed", self.url, exc_info=True)

    def purge(self) -> int:
        """Remove expired entries and abandoned partial writes; returns how many were removed."""
        now = self.clock()
        removed = 0
        for info in self.fs.ls(self.root, detail=True):
            path = info["name"]
            name = path.rsplit("/", 1)[-1]
            if name.endswith(SUFFIX) and valid_id(name[: -len(SUFFIX)]):
                limit = self.ttl_s
            elif name.startswith(PARTIAL_MARK):
                limit = max(self.ttl_s, PARTIAL_GRACE_S)
            else:
                continue
            try:
                expired = now - self._modified(path, info) > limit
            except FileNotFoundError:
                continue
            if expired and self._remove(path):
                removed += 1
        return removed

    def _remove(self, path: str) -> bool:
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            return False
        except OSError:
            logger.warning("cannot remove %s", path, exc_info=True)
            return False
        return True
