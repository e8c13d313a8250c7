"""Part files: where an item's bytes wait until they are verified, and what is known of them.

Every transfer (HTTPS products, on-demand bursts, S3 objects) writes into ``<name>.part`` and
keeps one JSON sidecar beside it, ``<name>.part.json``: the validator (ETag) the bytes belong
to, and whatever else the transfer needs to resume (a burst's server file name, an S3
object's size and completed ranges). The part is the resume point: it is never deleted on an
error, only when its bytes are known to be wrong. It gets its final name by one atomic rename.

Part files are opened without following symbolic links: a link planted at a part's path (or
at an S3 product's part folder, `part_folder`) is removed, never written through.

Every method blocks (file-system calls); async callers run them in a worker thread.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import uuid
from pathlib import Path
from typing import Any, BinaryIO

SIDECAR_SUFFIX = ".json"
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


class PartFile:
    """The part file at ``path`` and its sidecar ``<path>.json``.

    Example:
        part = PartFile(Path("data/X.zip.part"))
        with part.open(part.size()) as handle:
            handle.write(chunk)
        part.save(validator='"abc"')
        part.install(Path("data/X.zip"))
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sidecar = path.with_name(path.name + SIDECAR_SUFFIX)

    def __repr__(self) -> str:
        return f"PartFile({str(self.path)!r})"

    def size(self) -> int:
        """Bytes in the part, 0 when there is none (a symlink counts as none)."""
        try:
            info = self.path.lstat()
        except FileNotFoundError:
            return 0
        return info.st_size if not _is_link(info) else 0

    def load(self) -> dict[str, Any]:
        """What the sidecar records (empty when it is missing or unreadable)."""
        try:
            data = json.loads(self.sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def save(self, **record: Any) -> None:
        """Replace the sidecar's record with ``record``, atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.sidecar.with_name(f"{self.sidecar.name}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_text(json.dumps(record, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.sidecar)

    def update(self, **values: Any) -> dict[str, Any]:
        """Merge ``values`` into the sidecar's record; returns the new record."""
        record = {**self.load(), **values}
        self.save(**record)
        return record

    def open(self, offset: int, *, truncate: bool = False) -> BinaryIO:
        """The part opened for writing at ``offset`` (created when missing; emptied with
        ``truncate``). A symbolic link at its path is removed first."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _remove_link(self.path)
        fd = os.open(self.path, _WRITE_FLAGS | (os.O_TRUNC if truncate else 0), 0o644)
        handle = os.fdopen(fd, "wb")
        if offset:
            handle.seek(offset)
        return handle

    def reserve(self, size: int) -> None:
        """Make the part ``size`` bytes long, keeping the bytes it has (for ranged writes)."""
        with self.open(0) as handle:
            handle.truncate(size)

    def install(self, target: Path, *, keep_record: bool = False) -> int:
        """Give the part its final name (atomic rename); returns its size.

        Args:
            target: the final path; a symbolic link there is replaced, not followed.
            keep_record: leave the sidecar in place (S3 objects keep theirs until the
                whole product is verified).
        """
        size = self.path.stat().st_size
        os.replace(self.path, target)
        if not keep_record:
            self.sidecar.unlink(missing_ok=True)
        return size

    def install_new(self, target: Path) -> bool:
        """Give the part the name ``target`` unless that name exists; True when done.

        A hard link fails atomically when the name exists, so a file another process put
        there is never overwritten between the check and the rename; where hard links are
        not possible, check then rename.
        """
        try:
            os.link(self.path, target, follow_symlinks=False)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise
            if target.exists() or target.is_symlink():
                return False
            os.replace(self.path, target)
        else:
            self.path.unlink()
        self.sidecar.unlink(missing_ok=True)
        return True

    def discard(self) -> None:
        """Delete the part and its sidecar: their bytes are known to be wrong."""
        self.path.unlink(missing_ok=True)
        self.sidecar.unlink(missing_ok=True)


def part_folder(path: Path) -> None:
    """Make ``path`` a real folder for parts: a link planted at it, or at any folder inside
    it, is removed, never followed (a transfer writes into what is found there)."""
    _remove_link(path)
    path.mkdir(parents=True, exist_ok=True)
    for inside, folders, _ in os.walk(path):
        for name in folders:
            _remove_link(Path(inside, name))  # os.walk lists a linked folder, never enters it


def _is_link(info: os.stat_result) -> bool:
    return stat.S_ISLNK(info.st_mode)


def _remove_link(path: Path) -> None:
    try:
        if _is_link(path.lstat()):
            path.unlink()
    except FileNotFoundError:
        pass
