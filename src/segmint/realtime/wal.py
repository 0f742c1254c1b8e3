"""The service's write-ahead log: append-only segment files, one fsync per group of requests.

Record layout (little-endian): ``u32 payload length | u32 CRC-32 of payload | u64 sequence``
followed by the payload (JSON). A record is durable once :meth:`WriteAheadLog.append` returns.

Group commit: requests hand their records to one writer task; while it is waiting for an fsync,
new records pile up and go out together with the next one, so N concurrent requests cost about
one fsync, not N. A torn record at the end of the newest file (a crash mid-write) is cut off on
open; it was never acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

from segmint.errors import WorkspaceError

HEADER = struct.Struct("<IIQ")
MAX_RECORD = 256 * 1024 * 1024
SEGMENT_BYTES = 64 * 1024 * 1024

#: called by the writer, in sequence order, after a group is durable and before any request of
#: that group is answered; its return value for each record is what ``append`` returns
Committer = Callable[[list[tuple[int, object]]], list]


def _segment_name(first_seq: int) -> str:
    return f"{first_seq:020d}.wal"


def read_segment(path: Path, *, repair: bool) -> list[tuple[int, bytes]]:
    """Every intact record of one file; with ``repair`` a torn tail is truncated away."""
    records = []
    data = path.read_bytes()
    pos = 0
    while pos < len(data):
        if pos + HEADER.size > len(data):
            break
        length, crc, seq = HEADER.unpack_from(data, pos)
        end = pos + HEADER.size + length
        if length > MAX_RECORD or end > len(data):
            break
        payload = data[pos + HEADER.size : end]
        if zlib.crc32(payload) != crc:
            break
        records.append((seq, payload))
        pos = end
    if pos < len(data):
        if not repair:
            raise WorkspaceError(
                f"write-ahead log {path} is damaged at byte {pos} (not at its end); "
                "refusing to start rather than lose acknowledged events"
            )
        with open(path, "r+b") as fh:
            fh.truncate(pos)
            fh.flush()
            os.fsync(fh.fileno())
    return records


class WriteAheadLog:
    """Append-only, checksummed, segmented log with group commit.

    Parameters
    ----------
    directory : Path
        Where the segment files live (created if missing).
    segment_bytes : int
        A new file is started once the current one is larger than this.
    """

    def __init__(self, directory: Path, *, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = Path(directory)
        self.segment_bytes = segment_bytes
        self._fd: int | None = None
        self._size = 0
        self._segments: list[tuple[int, Path]] = []  # (first seq, path), oldest first
        self.last_seq = 0
        self._queue: list[tuple[bytes, object, asyncio.Future]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._committer: Committer | None = None
        self._stopping = False
        self.failed: WorkspaceError | None = None
        self.fsyncs = 0
        self.records_written = 0

    # ------------------------------------------------------------------ opening and replay

    def open(self) -> list[tuple[int, bytes]]:
        """Open the log and return every record in it, oldest first (torn tail removed)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        paths = sorted(self.directory.glob("*.wal"))
        records: list[tuple[int, bytes]] = []
        for i, path in enumerate(paths):
            got = read_segment(path, repair=i == len(paths) - 1)
            records.extend(got)
            self._segments.append((int(path.stem), path))
        if records:
            self.last_seq = records[-1][0]
        self._open_new_segment()
        return records

    def _open_new_segment(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        first = self.last_seq + 1
        path = self.directory / _segment_name(first)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = os.fstat(self._fd).st_size
        if not self._segments or self._segments[-1][1] != path:
            self._segments.append((first, path))
        _fsync_dir(self.directory)

    def discard_applied(self, applied_seq: int) -> int:
        """Delete files whose every record is at or below ``applied_seq``; return how many."""
        removed = 0
        while len(self._segments) > 1 and self._segments[1][0] - 1 <= applied_seq:
            _, path = self._segments.pop(0)
            path.unlink(missing_ok=True)
            removed += 1
        return removed

    # ------------------------------------------------------------------ group commit

    def start(self, committer: Committer) -> None:
        """Start the writer task (call inside the running event loop)."""
        self._committer = committer
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._writer(), name="segmint-wal-writer")

    async def append(self, payload: bytes, item: object = None) -> object:
        """Append one record; return once it is on disk and committed.

        ``item`` (the decoded payload) is handed to the committer with the record's sequence
        number; what the committer returns for it is returned here.
        """
        if self.failed is not None:
            raise self.failed
        if self._task is None or self._task.done() or self._stopping:
            raise WorkspaceError("the write-ahead log is not accepting writes (shutting down)")
        fut = asyncio.get_running_loop().create_future()
        self._queue.append((payload, item, fut))
        assert self._wake is not None
        self._wake.set()
        return await fut

    async def _writer(self) -> None:
        assert self._wake is not None
        while True:
            if not self._queue:
                if self._stopping:
                    return
                await self._wake.wait()
                self._wake.clear()
                continue
            group, self._queue = self._queue, []
            parts = []
            seqs = []
            for payload, _, _ in group:
                self.last_seq += 1
                seqs.append(self.last_seq)
                parts.append(HEADER.pack(len(payload), zlib.crc32(payload), self.last_seq))
                parts.append(payload)
            buf = b"".join(parts)
            try:
                await asyncio.to_thread(self._write, buf)
            except Exception as exc:  # disk full, I/O error: nobody in the group is acknowledged
                # the file may now end in a partial record: accept nothing more (fail closed)
                self.failed = WorkspaceError(f"could not write the event log: {exc}")
                for _, _, fut in group + self._queue:
                    if not fut.done():
                        fut.set_exception(self.failed)
                self._queue = []
                return
            records = [(seq, item) for seq, (_, item, _) in zip(seqs, group, strict=True)]
            try:
                results = self._committer(records) if self._committer else [None] * len(group)
            except Exception as exc:  # noqa: BLE001 - durable already; report and go on
                results = [exc] * len(group)
            for (_, _, fut), result in zip(group, results, strict=True):
                if fut.done():
                    continue
                if isinstance(result, BaseException):
                    fut.set_exception(result)
                else:
                    fut.set_result(result)
            if self._size > self.segment_bytes:
                self._open_new_segment()

    def _write(self, buf: bytes) -> None:
        assert self._fd is not None
        view = memoryview(buf)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        os.fdatasync(self._fd)
        self._size += len(buf)
        self.fsyncs += 1

    async def close(self) -> None:
        """Write what is queued, stop the writer and close the file."""
        if self._task is not None:
            self._stopping = True
            assert self._wake is not None
            self._wake.set()
            await self._task
            self._task = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def scrub_log(directory: Path, applied_seq: int, keep: Callable[[dict], bool]) -> int:
    """Rewrite a closed log without the events ``keep`` rejects (an erasure); return how many
    went. Records the workspace already holds (``applied_seq``) are dropped whole; the others
    keep their sequence numbers, so a later replay applies exactly what is left. The new file
    is written and synced before the old ones are removed."""
    paths = sorted(Path(directory).glob("*.wal"))
    records = [r for i, p in enumerate(paths) for r in read_segment(p, repair=i == len(paths) - 1)]
    dropped = 0
    out = bytearray()
    for seq, payload in records:
        events = json.loads(payload)
        if seq <= applied_seq:
            continue
        kept = [e for e in events if keep(e)]
        dropped += len(events) - len(kept)
        if kept:
            body = json.dumps(kept, separators=(",", ":")).encode()
            out += HEADER.pack(len(body), zlib.crc32(body), seq) + body
    if not paths:
        return 0
    fresh = None
    if out:
        first = HEADER.unpack_from(out, 0)[2]
        fresh = Path(directory) / _segment_name(first)
        tmp = fresh.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            fh.write(out)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, fresh)
    for path in paths:
        if path != fresh:
            path.unlink(missing_ok=True)
    _fsync_dir(Path(directory))
    return dropped


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
