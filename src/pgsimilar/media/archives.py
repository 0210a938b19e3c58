"""Read uploaded zip and tar archives in memory, safely, into files and per-member errors.

The uploader is not trusted, so an archive is assumed built to hurt. Decompression bombs: declared sizes
and ratios are checked before decompressing, every read is bounded, and the bytes actually decompressed
(nested archives included) are charged to one budget. Path tricks (absolute paths, ``..``, backslashes,
control characters) are refused although nothing is written to disk, because names travel on into ids,
metadata and the UI. Links and special files are refused, never followed. Floods of members and archives
within archives meet a count and a depth limit. A bad member is an :class:`EntryError` and the rest
carries on; a bad archive (corrupt, empty, over a limit) raises :class:`~pgsimilar.errors.InvalidArchive`.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import io
import lzma
import re
import stat
import tarfile
import unicodedata
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..errors import InvalidArchive

MIB = 1024 * 1024
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a member first, or the end record alone (empty archive)
_GZIP, _BZIP2, _XZ = b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00"
_COMPRESSED_TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.xz", ".txz")
_ARCHIVE_SUFFIXES = (".zip", ".tar", *_COMPRESSED_TAR_SUFFIXES)
_JUNK_NAMES = frozenset({".DS_Store", "Thumbs.db"})
_DRIVE = re.compile(r"[A-Za-z]:")
_SHOWN_NAME_LENGTH = 300
_TAR_CHUNK = 64 * 1024
_DECOMPRESSION_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError)
_TAR_REFUSALS = {
    tarfile.SYMTYPE: "symbolic links are not accepted",
    tarfile.LNKTYPE: "hard links are not accepted",
    tarfile.CHRTYPE: "device files are not accepted",
    tarfile.BLKTYPE: "device files are not accepted",
    tarfile.FIFOTYPE: "FIFOs (named pipes) are not accepted",
}
_ReadMember = Callable[[], bytes]  # reads one member once it has passed every check


@dataclass(frozen=True)
class ArchiveLimits:
    """How much one upload may hold; over a limit, the whole archive is refused (except ``max_entry_bytes``)."""

    max_entries: int = 10_000  # files and per-member errors, nested archives included
    max_entry_bytes: int = 20 * 1024 * 1024  # one member's uncompressed size: over it, an EntryError
    max_total_bytes: int = 512 * 1024 * 1024  # everything decompressed, nested archives included
    max_ratio: float = 100.0  # uncompressed / compressed, checked once more than 1 MiB is uncompressed
    max_depth: int = 2  # the upload is depth 1, an archive inside it depth 2


@dataclass(frozen=True)
class ArchiveEntry:
    """A regular file: its normalised relative POSIX path (``inner.zip/dir/a.png`` when nested) and bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class EntryError:
    """A member that was not read: its name as given (escaped and shortened for printing), and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class ArchiveContents:
    """The files of an archive, in archive order, and the members refused one by one."""

    entries: list[ArchiveEntry]
    errors: list[EntryError]


class _LimitExceeded(InvalidArchive):
    """A shared limit was crossed: refuses the whole upload, even from inside a nested archive."""


class _Refused(Exception):
    """One member is not taken; the message is the reason."""


def archive_format(filename: str, head: bytes) -> Literal["zip", "tar"] | None:
    """``"zip"`` or ``"tar"`` (plain, gzip, bzip2 or xz) by the first bytes of the file, else None.

    ``head`` should be at least the first 512 bytes (a few KB for a compressed tar not named so). A
    compressed stream counts as a tar when the filename says so (``.tar.gz``, ``.tgz``, ...) or when its
    decompressed start has a tar header.
    """
    if head.startswith(_ZIP_MAGIC):
        return "zip"
    if _is_tar_header(head):
        return "tar"
    if not head.startswith((_GZIP, _BZIP2, _XZ)):
        return None
    if filename.lower().endswith(_COMPRESSED_TAR_SUFFIXES):
        return "tar"
    try:
        with _decompressed(head) as stream:
            return "tar" if _is_tar_header(stream.read(512)) else None
    except _DECOMPRESSION_ERRORS:
        return None


def read_archive(data: bytes, filename: str, limits: ArchiveLimits = ArchiveLimits()) -> ArchiveContents:
    """All regular files of the archive (nested archives expanded up to ``max_depth``) and per-member errors.

    Raises InvalidArchive when the archive as a whole cannot be used: not an archive, corrupt, holding no
    files and no refused members (empty, or directories only), or over the entry, total size or ratio limit.
    """
    reader = _Reader(limits)
    reader.read(data, filename, prefix="", depth=1)
    if not reader.entries and not reader.errors:
        raise InvalidArchive(f"{filename!r} holds no files (it is empty or has only directories)")
    return ArchiveContents(reader.entries, reader.errors)


class _Reader:
    """One upload being read: the entries and errors so far, and the budget all nested archives share."""

    def __init__(self, limits: ArchiveLimits) -> None:
        self.limits = limits
        self.entries: list[ArchiveEntry] = []
        self.errors: list[EntryError] = []
        self._seen: set[str] = set()
        self._taken = self._skipped = self._total = 0

    def read(self, data: bytes, filename: str, prefix: str, depth: int) -> None:
        kind = archive_format(filename, data)
        if kind is None:
            raise InvalidArchive(f"{filename!r} is not a zip or tar archive")
        (self._read_zip if kind == "zip" else self._read_tar)(data, filename, prefix, depth)

    def charge(self, size: int) -> None:
        self._total += size
        if self._total > self.limits.max_total_bytes:
            raise _LimitExceeded(
                f"the archive unpacks to more than {self.limits.max_total_bytes} bytes "
                f"({self._total} read so far), the limit for one upload"
            )

    def _read_zip(self, data: bytes, filename: str, prefix: str, depth: int) -> None:
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, ValueError, *_DECOMPRESSION_ERRORS) as exc:  # ValueError: forged fields
            raise InvalidArchive(f"{filename!r} is not a readable zip archive ({exc})") from exc
        with archive:
            self._check_declared_sizes(archive.infolist())
            for info in archive.infolist():
                kind = stat.S_IFMT(info.external_attr >> 16)
                problem = _zip_problem(info, kind, self.limits.max_entry_bytes)
                read = functools.partial(self._read_zip_member, archive, info)
                # .orig_filename: .filename is cut at the first NUL, which would hide it. Windows tools
                # may end a directory with a backslash.
                is_dir = info.orig_filename.endswith(("/", "\\")) or kind == stat.S_IFDIR
                self._member(info.orig_filename, is_dir, problem, read, prefix, depth)

    def _check_declared_sizes(self, infos: list[zipfile.ZipInfo]) -> None:
        # zipfile stops every member at its declared size, so the central directory bounds the work:
        # refusing on it means a bomb is never decompressed at all.
        for info in infos:
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > MIB and ratio > self.limits.max_ratio:
                raise _LimitExceeded(
                    f"member {_printable(info.orig_filename)!r} would expand {ratio:.0f} times "
                    f"({info.file_size} bytes), over the limit of {self.limits.max_ratio:g} times"
                )
        declared = sum(info.file_size for info in infos)
        if self._total + declared > self.limits.max_total_bytes:
            raise _LimitExceeded(
                f"the archive declares {declared} bytes uncompressed, "
                f"over the limit of {self.limits.max_total_bytes} bytes for one upload"
            )

    def _read_zip_member(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
        limit = self.limits.max_entry_bytes
        try:
            with archive.open(info) as member:
                content = member.read(limit + 1)  # bounded even if the header lied
        except (zipfile.BadZipFile, NotImplementedError, *_DECOMPRESSION_ERRORS) as exc:
            raise _Refused(f"member cannot be decompressed ({exc})") from exc
        self.charge(len(content))
        if len(content) > limit:
            raise _Refused(_too_large(len(content), limit))
        return content

    def _read_tar(self, data: bytes, filename: str, prefix: str, depth: int) -> None:
        try:
            # Stream mode ("r|") reads members in order and never seeks, so every byte tarfile skips
            # over still passes through the charged stream.
            with (
                _ChargedStream(data, self) as stream,
                tarfile.open(fileobj=stream, mode="r|", encoding="utf-8", errors="surrogateescape") as tar,
            ):
                for member in tar:
                    problem = _tar_problem(member, self.limits.max_entry_bytes)
                    read = functools.partial(_read_tar_member, tar, member)
                    name = _undecodable_as_cp437(member.name)
                    self._member(name, member.isdir(), problem, read, prefix, depth)
        except InvalidArchive:
            raise
        except (tarfile.TarError, *_DECOMPRESSION_ERRORS) as exc:
            raise InvalidArchive(f"{filename!r} is a corrupt or truncated tar archive ({exc})") from exc

    def _member(
        self, raw: str, is_dir: bool, problem: str | None, read: _ReadMember, prefix: str, depth: int
    ) -> None:
        """Skip, refuse or take one member; ``read`` is called only once every check has passed."""
        try:
            relative = _normalise(raw)
        except _Refused as exc:
            relative, problem = "", str(exc)
        if problem is None and (is_dir or _is_junk(relative)):
            # Not yielded, but not free either: each costs time, and tarfile keeps every header.
            self._skipped += 1
            if self._skipped > self.limits.max_entries:
                raise _LimitExceeded(
                    f"the archive has more than {self.limits.max_entries} directories and system files"
                )
            return
        self._taken += 1
        if self._taken > self.limits.max_entries:
            raise _LimitExceeded(
                f"the archive has more than {self.limits.max_entries} files, the limit for one upload"
            )
        name = prefix + relative
        if problem is None and name in self._seen:
            problem = "duplicate name in the archive"
        try:
            if problem is not None:
                raise _Refused(problem)
            content = read()
        except _Refused as exc:
            self.errors.append(EntryError(_printable(prefix + raw), str(exc)))
            return
        self._seen.add(name)
        self._accept(name, prefix + raw, content, depth)

    def _accept(self, name: str, shown: str, content: bytes, depth: int) -> None:
        # Only archive-named members are opened: .docx, .jar or .epub files are zips too, and are files here.
        if not name.lower().endswith(_ARCHIVE_SUFFIXES) or archive_format(name, content) is None:
            self.entries.append(ArchiveEntry(name, content))
        elif depth >= self.limits.max_depth:
            self.errors.append(EntryError(_printable(shown), _too_deep(self.limits.max_depth)))
        else:
            kept_entries, kept_errors = len(self.entries), len(self.errors)
            try:
                self.read(content, name, prefix=name + "/", depth=depth + 1)
            except _LimitExceeded:
                raise
            except InvalidArchive as exc:
                # A broken inner archive is one bad member: drop what it gave, keep the rest of the upload.
                del self.entries[kept_entries:]
                del self.errors[kept_errors:]
                self.errors.append(EntryError(_printable(shown), f"nested archive cannot be read: {exc}"))


class _ChargedStream(io.BufferedIOBase):
    """The decompressed tar stream, charging each byte to the budget and checking the compression ratio."""

    def __init__(self, data: bytes, reader: _Reader) -> None:
        super().__init__()
        self._source = _decompressed(data)
        self._compressed = len(data)
        self._read = 0
        self._reader = reader

    def close(self) -> None:
        self._source.close()
        super().close()

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1, /) -> bytes:
        # Never everything at once: a bounded chunk keeps a bomb from being expanded in one call.
        chunk = self._source.read(_TAR_CHUNK if size is None or size < 0 else min(size, _TAR_CHUNK))
        self._read += len(chunk)
        self._reader.charge(len(chunk))
        ratio = self._reader.limits.max_ratio
        if self._read > MIB and self._read > ratio * self._compressed:
            raise _LimitExceeded(
                f"the archive expands more than {ratio:g} times ({self._compressed} bytes "
                f"gave over {self._read}), the limit for one upload"
            )
        return chunk


def _decompressed(data: bytes) -> io.BufferedIOBase:
    raw = io.BytesIO(data)
    if data.startswith(_GZIP):
        return gzip.GzipFile(fileobj=raw)
    if data.startswith(_BZIP2):
        return bz2.BZ2File(raw)
    if data.startswith(_XZ):
        return lzma.LZMAFile(raw)
    return raw


def _is_tar_header(head: bytes) -> bool:
    return head[257:262] == b"ustar"


def _normalise(raw: str) -> str:
    """The relative POSIX path of a member name; raises _Refused saying why it cannot be used."""
    if any(unicodedata.category(char) == "Cc" for char in raw):
        raise _Refused("name contains NUL or control characters")
    # Windows tools write backslashes and Windows extractors honour them, so they separate here too.
    path = raw.replace("\\", "/")
    if path.startswith("/") or _DRIVE.match(path):
        raise _Refused("absolute paths are not accepted")
    parts = path.split("/")
    if ".." in parts:
        raise _Refused("path escapes the archive ('..' component)")
    kept = [part for part in parts if part not in ("", ".")]
    if not kept:
        raise _Refused("empty name")
    return "/".join(kept)


def _is_junk(name: str) -> bool:
    """macOS resource forks and Finder/Explorer caches: every archive made on those systems has them."""
    parts = name.split("/")
    return parts[0] == "__MACOSX" or parts[-1].startswith("._") or parts[-1] in _JUNK_NAMES


def _undecodable_as_cp437(name: str) -> str:
    # tarfile keeps bytes that are not UTF-8 as surrogates, which nothing downstream can store; cp437
    # (the zip fallback) maps every byte to a character, so the name stays stable and readable enough.
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("cp437")
    return name


def _zip_problem(info: zipfile.ZipInfo, kind: int, max_bytes: int) -> str | None:
    if info.flag_bits & 0x1:
        return "encrypted members are not accepted"
    if kind == stat.S_IFLNK:
        return "symbolic links are not accepted"
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):  # 0: made on a system without Unix modes
        return "special files (devices, FIFOs, sockets) are not accepted"
    return _too_large(info.file_size, max_bytes) if info.file_size > max_bytes else None


def _tar_problem(member: tarfile.TarInfo, max_bytes: int) -> str | None:
    if not (member.isreg() or member.isdir()):
        return _TAR_REFUSALS.get(member.type, "unsupported member type")
    # Skipping an oversized member still decompresses through it: the charged stream counts those bytes.
    return _too_large(member.size, max_bytes) if member.size > max_bytes else None


def _read_tar_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    file = tar.extractfile(member)  # None only for non-regular members, refused before this
    return file.read() if file is not None else b""


def _too_deep(max_depth: int) -> str:
    if max_depth <= 1:
        return "nested archives are not expanded"
    levels = "one level" if max_depth == 2 else f"{max_depth - 1} levels"
    return f"nested archive beyond {levels} is not expanded"


def _too_large(size: int, limit: int) -> str:
    return f"{size} bytes uncompressed, over the limit of {limit} bytes per file"


def _printable(name: str) -> str:
    """The name with control characters escaped, cut short: it goes into logs, JSON and the UI."""
    shown = "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in name[:_SHOWN_NAME_LENGTH]
    )
    if len(name) > _SHOWN_NAME_LENGTH or len(shown) > _SHOWN_NAME_LENGTH:
        shown = shown[:_SHOWN_NAME_LENGTH] + "…"
    return shown
