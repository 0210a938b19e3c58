"""Reading uploaded archives safely: formats, nesting, unsafe members, and the limits that stop bombs.

Every archive is built here in memory; the limits are small so that bombs stay cheap to build.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import stat
import tarfile
import zipfile

import pytest
from PIL import Image

from pgsimilar.errors import InvalidArchive, InvalidInput
from pgsimilar.media.archives import (
    ArchiveContents,
    ArchiveEntry,
    ArchiveLimits,
    EntryError,
    archive_format,
    read_archive,
)

Member = tuple[str, bytes] | tarfile.TarInfo | zipfile.ZipInfo


def png(color: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), color).save(buffer, format="PNG")
    return buffer.getvalue()


def zip_bytes(*members: Member, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of ``(name, data)`` pairs; a ZipInfo is written as a member with empty data."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for member in members:
            if isinstance(member, zipfile.ZipInfo):
                archive.writestr(member, b"target" if member.external_attr >> 16 else b"")
            elif isinstance(member, tuple):
                archive.writestr(member[0], member[1])
    return buffer.getvalue()


def tar_bytes(*members: Member, mode: str = "w", **options: object) -> bytes:
    """A tar of ``(name, data)`` pairs; a TarInfo is written as is (links, devices, directories)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode, **options) as archive:  # type: ignore[call-overload]
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                archive.addfile(member)
            elif isinstance(member, tuple):
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                archive.addfile(info, io.BytesIO(member[1]))
    return buffer.getvalue()


def tar_special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def build(fmt: str, *members: Member) -> tuple[bytes, str]:
    """The archive and an upload name for it, in the format ``zip`` or ``tar``."""
    return (zip_bytes(*members), "upload.zip") if fmt == "zip" else (tar_bytes(*members), "upload.tar")


def names(contents: ArchiveContents) -> list[str]:
    return [entry.name for entry in contents.entries]


# Happy paths


def test_zip_of_pngs_gives_every_image() -> None:
    images = {"photos/red.png": png("red"), "photos/green.png": png("green"), "blue.png": png("blue")}
    data = zip_bytes(zipfile.ZipInfo("photos/"), *images.items())

    contents = read_archive(data, "photos.zip")

    assert contents == ArchiveContents([ArchiveEntry(n, d) for n, d in images.items()], [])
    assert Image.open(io.BytesIO(contents.entries[0].data)).size == (4, 4)


@pytest.mark.parametrize(
    ("mode", "filename"),
    [
        ("w", "upload.tar"),
        ("w:gz", "upload.tar.gz"),
        ("w:gz", "upload.tgz"),
        ("w:gz", "upload.bin"),  # recognised by the tar header inside, not by the name
        ("w:bz2", "upload.tar.bz2"),
        ("w:xz", "upload.tar.xz"),
    ],
)
def test_tar_formats(mode: str, filename: str) -> None:
    members = [("a.png", png("red")), ("dir/b.png", png("blue")), ("metadata.json", b"{}")]
    data = tar_bytes(tar_special("dir", tarfile.DIRTYPE), *members, mode=mode)

    contents = read_archive(data, filename)

    assert contents == ArchiveContents([ArchiveEntry(n, d) for n, d in members], [])


def test_sidecar_files_come_through_as_ordinary_entries() -> None:
    sidecar = json.dumps({"a.png": {"caption": "a red square"}}).encode()
    data = zip_bytes(("a.png", png("red")), ("metadata.json", sidecar), ("notes/readme.txt", b"hi"))

    contents = read_archive(data, "upload.zip")

    assert names(contents) == ["a.png", "metadata.json", "notes/readme.txt"]
    assert json.loads(contents.entries[1].data) == {"a.png": {"caption": "a red square"}}


def test_zip_inside_tar_is_expanded_with_its_name_as_prefix() -> None:
    inner = zip_bytes(("dir/a.png", png("red")), ("b.png", png("blue")))
    data = tar_bytes(("top.png", png("green")), ("batch/inner.zip", inner), mode="w:gz")

    contents = read_archive(data, "upload.tgz")

    assert names(contents) == ["top.png", "batch/inner.zip/dir/a.png", "batch/inner.zip/b.png"]
    assert contents.entries[1].data == png("red")
    assert contents.errors == []


def test_archive_named_member_that_is_not_an_archive_stays_a_file() -> None:
    # Office documents, jars and epubs are zips too: only archive-named members are opened.
    document = zip_bytes(("word/document.xml", b"<w/>"))
    data = zip_bytes(("report.docx", document), ("fake.zip", b"not a zip at all"))

    contents = read_archive(data, "upload.zip")

    assert contents.entries == [
        ArchiveEntry("report.docx", document),
        ArchiveEntry("fake.zip", b"not a zip at all"),
    ]


@pytest.mark.parametrize(
    ("filename", "head", "expected"),
    [
        ("a.zip", zip_bytes(("a", b"x")), "zip"),
        ("a.zip", zip_bytes(), "zip"),  # an empty zip is only its end record
        ("a.tar", tar_bytes(("a", b"x")), "tar"),
        ("a.tgz", tar_bytes(("a", b"x"), mode="w:gz")[:20], "tar"),  # by the name, no need to decompress
        ("upload", tar_bytes(("a", b"x"), mode="w:gz")[:2048], "tar"),  # by the tar header inside
        ("a.tbz2", tar_bytes(("a", b"x"), mode="w:bz2"), "tar"),
        ("a.txz", tar_bytes(("a", b"x"), mode="w:xz"), "tar"),
        ("notes.txt.gz", gzip.compress(b"just text" * 100), None),
        ("a.png", png("red"), None),
        ("a.zip", b"", None),
    ],
)
def test_archive_format(filename: str, head: bytes, expected: str | None) -> None:
    assert archive_format(filename, head) == expected


# Whole-archive refusals


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (zip_bytes(("a.txt", b"x" * 5000))[:100], "upload.zip"),
        (b"PK\x03\x04" + b"\x00" * 200, "upload.zip"),
        (tar_bytes(("a.txt", os.urandom(5000)))[:1500], "upload.tar"),
        (tar_bytes(("a.txt", os.urandom(5000)), mode="w:gz")[:2000], "upload.tgz"),
        (b"\x1f\x8b" + b"garbage" * 50, "upload.tar.gz"),
    ],
    ids=["truncated-zip", "garbage-zip", "truncated-tar", "truncated-tgz", "garbage-tgz"],
)
def test_corrupt_or_truncated_archive_is_refused(data: bytes, filename: str) -> None:
    with pytest.raises(InvalidArchive, match=r"corrupt|not a readable"):
        read_archive(data, filename)


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (b"", "upload.zip"),
        (b"hello", "upload.zip"),
        (png("red"), "upload.png"),
        (gzip.compress(b"hi"), "a.gz"),
    ],
)
def test_not_an_archive_is_refused(data: bytes, filename: str) -> None:
    with pytest.raises(InvalidArchive, match="not a zip or tar archive") as raised:
        read_archive(data, filename)
    assert isinstance(raised.value, InvalidInput) and isinstance(raised.value, ValueError)


@pytest.mark.parametrize(
    "data",
    [
        zip_bytes(),
        zip_bytes(zipfile.ZipInfo("a/"), zipfile.ZipInfo("a/b/")),
        tar_bytes(tar_special("a", tarfile.DIRTYPE), tar_special("a/b", tarfile.DIRTYPE)),
        zip_bytes(("__MACOSX/._a.png", b"x"), (".DS_Store", b"x")),
    ],
    ids=["empty-zip", "zip-of-directories", "tar-of-directories", "only-system-files"],
)
def test_archive_without_files_is_refused(data: bytes) -> None:
    with pytest.raises(InvalidArchive, match="holds no files"):
        read_archive(data, "upload")


def test_archive_whose_every_member_is_refused_reports_them() -> None:
    # Not "empty": the caller gets the reasons, which say more than a blanket refusal would.
    data = tar_bytes(tar_special("link", tarfile.SYMTYPE, "/etc/passwd"))

    contents = read_archive(data, "upload.tar")

    assert contents == ArchiveContents([], [EntryError("link", "symbolic links are not accepted")])


@pytest.mark.parametrize("fmt", ["zip", "tar"])
def test_more_files_than_max_entries_is_refused(fmt: str) -> None:
    data, filename = build(fmt, *[(f"{i}.txt", b"x") for i in range(6)])

    assert len(read_archive(data, filename, ArchiveLimits(max_entries=6)).entries) == 6
    with pytest.raises(InvalidArchive, match="more than 5 files"):
        read_archive(data, filename, ArchiveLimits(max_entries=5))


def test_refused_members_count_toward_max_entries() -> None:
    data, filename = build(
        "zip", *[(f"{i}.txt", b"x") for i in range(3)], *[(f"../{i}", b"x") for i in range(3)]
    )

    with pytest.raises(InvalidArchive, match="more than 5 files"):
        read_archive(data, filename, ArchiveLimits(max_entries=5))


def test_nested_members_share_the_entry_count() -> None:
    inner = zip_bytes(*[(f"{i}.txt", b"x") for i in range(3)])
    data = tar_bytes(*[(f"{i}.txt", b"x") for i in range(3)], ("inner.zip", inner))

    assert len(read_archive(data, "upload.tar", ArchiveLimits(max_entries=7)).entries) == 6
    with pytest.raises(InvalidArchive, match="more than 6 files"):
        read_archive(data, "upload.tar", ArchiveLimits(max_entries=6))


def test_flood_of_directories_is_refused() -> None:
    data = tar_bytes(*[tar_special(f"d{i}", tarfile.DIRTYPE) for i in range(6)], ("a.txt", b"x"))

    with pytest.raises(InvalidArchive, match="more than 5 directories"):
        read_archive(data, "upload.tar", ArchiveLimits(max_entries=5))


def test_zip_declaring_more_than_max_total_bytes_is_refused() -> None:
    data = zip_bytes(*[(f"{i}.bin", os.urandom(1000)) for i in range(3)])

    with pytest.raises(InvalidArchive, match=r"declares 3000 bytes .* limit of 2500 bytes"):
        read_archive(data, "upload.zip", ArchiveLimits(max_total_bytes=2500))


def test_tar_over_max_total_bytes_is_refused_by_the_bytes_read() -> None:
    data = tar_bytes(*[(f"{i}.bin", os.urandom(1000)) for i in range(3)])

    with pytest.raises(InvalidArchive, match=r"more than 2500 bytes \(\d+ read so far\)"):
        read_archive(data, "upload.tar", ArchiveLimits(max_total_bytes=2500))


def test_nested_archives_share_the_byte_budget() -> None:
    inner = zip_bytes(("a.bin", os.urandom(1500)), compression=zipfile.ZIP_STORED)
    one = tar_bytes(("one.zip", inner))
    two = tar_bytes(("one.zip", inner), ("two.zip", inner))
    # The outer tar stream is charged too (at most its own length), then each inner file once.

    assert len(read_archive(one, "upload.tar", ArchiveLimits(max_total_bytes=len(one) + 2000)).entries) == 1
    with pytest.raises(InvalidArchive, match="for one upload"):
        read_archive(two, "upload.tar", ArchiveLimits(max_total_bytes=len(two) + 2000))


def test_skipped_oversized_tar_member_still_counts_toward_the_total() -> None:
    data = tar_bytes(("big.bin", os.urandom(5000)), ("a.txt", b"small"))
    limits = ArchiveLimits(max_entry_bytes=1000)

    contents = read_archive(data, "upload.tar", limits)
    assert names(contents) == ["a.txt"]
    assert contents.errors == [
        EntryError("big.bin", "5000 bytes uncompressed, over the limit of 1000 bytes per file")
    ]

    # tarfile must read through the 5000 skipped bytes, so they are charged.
    with pytest.raises(InvalidArchive, match="more than 3000 bytes"):
        read_archive(data, "upload.tar", ArchiveLimits(max_entry_bytes=1000, max_total_bytes=3000))


def test_zip_member_over_max_ratio_is_refused() -> None:
    data = zip_bytes(("zeros.bin", bytes(2 * 1024 * 1024)))

    with pytest.raises(InvalidArchive, match=r"'zeros.bin' would expand \d+ times .* limit of 10 times"):
        read_archive(data, "upload.zip", ArchiveLimits(max_ratio=10))


def test_ratio_is_only_checked_above_one_mebibyte() -> None:
    data = zip_bytes(("zeros.bin", bytes(512 * 1024)))

    contents = read_archive(data, "upload.zip", ArchiveLimits(max_ratio=10))

    assert contents.entries == [ArchiveEntry("zeros.bin", bytes(512 * 1024))]


def test_tar_gz_over_max_ratio_is_refused() -> None:
    data = tar_bytes(("zeros.bin", bytes(2 * 1024 * 1024)), mode="w:gz")

    with pytest.raises(InvalidArchive, match="expands more than 10 times"):
        read_archive(data, "upload.tgz", ArchiveLimits(max_ratio=10))


def test_zip_bomb_is_refused_without_decompressing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("zeros.bin", "w") as member,
    ):
        for _ in range(200):
            member.write(bytes(1024 * 1024))
    assert len(buffer.getvalue()) < 1024 * 1024  # 200 MiB of zeros in a few hundred KB

    def no_decompression(*args: object, **kwargs: object) -> None:
        raise AssertionError("a zip bomb member was opened")

    monkeypatch.setattr(zipfile.ZipFile, "open", no_decompression)
    with pytest.raises(InvalidArchive, match=r"would expand \d+ times .* limit of 100 times"):
        read_archive(buffer.getvalue(), "bomb.zip")


def test_tar_gz_bomb_is_refused_after_a_bounded_read() -> None:
    data = tar_bytes(("zeros.bin", bytes(30 * 1024 * 1024)), mode="w:gz")

    with pytest.raises(InvalidArchive, match="expands more than 100 times") as raised:
        read_archive(data, "bomb.tgz")
    read = re.search(r"gave over (\d+)", str(raised.value))
    assert read is not None and int(read.group(1)) < 101 * len(data) + 128 * 1024  # not all 30 MiB


# Per-member errors


UNSAFE_NAMES = [
    ("/etc/passwd", "absolute paths are not accepted"),
    ("C:\\x", "absolute paths are not accepted"),
    ("c:/windows/x", "absolute paths are not accepted"),
    ("\\\\server\\share", "absolute paths are not accepted"),
    ("../x", "path escapes the archive ('..' component)"),
    ("a/../../x", "path escapes the archive ('..' component)"),
    ("a/..", "path escapes the archive ('..' component)"),
    ("a\\..\\..\\x", "path escapes the archive ('..' component)"),
    ("a\x01b", "name contains NUL or control characters"),
    ("a\nb", "name contains NUL or control characters"),
    ("a\x7f", "name contains NUL or control characters"),
]


@pytest.mark.parametrize("fmt", ["zip", "tar"])
@pytest.mark.parametrize(("name", "reason"), UNSAFE_NAMES)
def test_unsafe_member_names_are_refused_one_by_one(fmt: str, name: str, reason: str) -> None:
    data, filename = build(fmt, (name, b"evil"), ("ok.txt", b"fine"))

    contents = read_archive(data, filename)

    assert contents.entries == [ArchiveEntry("ok.txt", b"fine")]
    assert [error.reason for error in contents.errors] == [reason]


def test_nul_in_a_zip_name_is_refused() -> None:
    # zipfile cuts names at a NUL when writing, so the byte is put in afterwards.
    data = zip_bytes(("a.pngX.exe", b"evil"), ("ok.txt", b"fine")).replace(b"a.pngX.exe", b"a.png\x00.exe")

    contents = read_archive(data, "upload.zip")

    assert names(contents) == ["ok.txt"]
    assert contents.errors == [EntryError("a.png\\x00.exe", "name contains NUL or control characters")]


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        (tarfile.SYMTYPE, "symbolic links are not accepted"),
        (tarfile.LNKTYPE, "hard links are not accepted"),
        (tarfile.CHRTYPE, "device files are not accepted"),
        (tarfile.BLKTYPE, "device files are not accepted"),
        (tarfile.FIFOTYPE, "FIFOs (named pipes) are not accepted"),
    ],
)
def test_tar_links_and_special_files_are_refused(kind: bytes, reason: str) -> None:
    data = tar_bytes(("ok.txt", b"fine"), tar_special("special", kind, linkname="ok.txt"))

    contents = read_archive(data, "upload.tar")

    assert contents == ArchiveContents([ArchiveEntry("ok.txt", b"fine")], [EntryError("special", reason)])


def test_zip_symlink_is_refused() -> None:
    link = zipfile.ZipInfo("link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    data = zip_bytes(link, ("ok.txt", b"fine"))

    contents = read_archive(data, "upload.zip")

    assert contents == ArchiveContents(
        [ArchiveEntry("ok.txt", b"fine")], [EntryError("link", "symbolic links are not accepted")]
    )


@pytest.mark.parametrize("fmt", ["zip", "tar"])
def test_member_over_max_entry_bytes_is_refused(fmt: str) -> None:
    data, filename = build(fmt, ("big.bin", os.urandom(2000)), ("ok.txt", b"fine"))

    contents = read_archive(data, filename, ArchiveLimits(max_entry_bytes=1000))

    assert names(contents) == ["ok.txt"]
    assert contents.errors == [
        EntryError("big.bin", "2000 bytes uncompressed, over the limit of 1000 bytes per file")
    ]


def test_encrypted_zip_member_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("secret.txt", b"hidden")
        archive.writestr("ok.txt", b"fine")
        archive.getinfo("secret.txt").flag_bits |= 0x1  # zipfile cannot encrypt; mark it as encrypted

    contents = read_archive(buffer.getvalue(), "upload.zip")

    assert names(contents) == ["ok.txt"]
    assert contents.errors == [EntryError("secret.txt", "encrypted members are not accepted")]


def liar_zip(declared: int) -> bytes:
    """A zip whose central directory gives ``liar.bin`` (5000 random bytes) the size ``declared``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("liar.bin", os.urandom(5000))
        archive.writestr("ok.txt", b"fine")
        archive.getinfo("liar.bin").file_size = declared
    return buffer.getvalue()


def test_zip_member_understating_its_size_is_not_read_past_it() -> None:
    contents = read_archive(liar_zip(declared=10), "upload.zip")

    assert names(contents) == ["ok.txt"]
    assert [error.name for error in contents.errors] == ["liar.bin"]
    assert contents.errors[0].reason.startswith("member cannot be decompressed")


def test_zip_member_overstating_its_size_gives_its_real_bytes() -> None:
    # The declared size is only an upper bound: the budget is charged what was actually read.
    contents = read_archive(liar_zip(declared=50_000), "upload.zip")

    assert [len(entry.data) for entry in contents.entries] == [5000, 4]
    assert contents.errors == []


def test_corrupt_zip_member_is_refused_and_the_rest_is_read() -> None:
    data = zip_bytes(("a.txt", b"hello world"), ("ok.txt", b"fine"), compression=zipfile.ZIP_STORED)
    data = data.replace(b"hello world", b"hellO world")

    contents = read_archive(data, "upload.zip")

    assert names(contents) == ["ok.txt"]
    assert contents.errors[0].name == "a.txt"
    assert "CRC" in contents.errors[0].reason


def test_archive_nested_beyond_one_level_is_not_expanded() -> None:
    deepest = zip_bytes(("secret.txt", b"x"))
    inner = zip_bytes(("a.txt", b"a"), ("deeper.zip", deepest))
    data = tar_bytes(("inner.zip", inner))

    contents = read_archive(data, "upload.tar")

    assert contents == ArchiveContents(
        [ArchiveEntry("inner.zip/a.txt", b"a")],
        [EntryError("inner.zip/deeper.zip", "nested archive beyond one level is not expanded")],
    )


def test_no_nesting_at_all_with_max_depth_one() -> None:
    data = tar_bytes(("inner.zip", zip_bytes(("a.txt", b"a"))))

    contents = read_archive(data, "upload.tar", ArchiveLimits(max_depth=1))

    assert contents.entries == []
    assert contents.errors == [EntryError("inner.zip", "nested archives are not expanded")]


def test_corrupt_nested_archive_is_one_bad_member() -> None:
    broken = zip_bytes(("a.txt", os.urandom(5000)))[:200]
    data = tar_bytes(("broken.zip", broken), ("ok.txt", b"fine"))

    contents = read_archive(data, "upload.tar")

    assert names(contents) == ["ok.txt"]
    assert contents.errors[0].name == "broken.zip"
    assert contents.errors[0].reason.startswith("nested archive cannot be read: ")


# Skipped, duplicates, names


@pytest.mark.parametrize("fmt", ["zip", "tar"])
def test_system_files_and_directories_are_skipped_silently(fmt: str) -> None:
    junk = ["__MACOSX/a.png", "__MACOSX/dir/._a.png", "._a.png", "dir/._b.png", ".DS_Store", "dir/Thumbs.db"]
    # A zip made on Windows may end a directory name with a backslash.
    directories = (
        [zipfile.ZipInfo("dir/"), ("windows\\", b"")]
        if fmt == "zip"
        else [tar_special("dir", tarfile.DIRTYPE)]
    )
    data, filename = build(fmt, *directories, ("a.png", b"png"), *[(name, b"junk") for name in junk])

    assert read_archive(data, filename) == ArchiveContents([ArchiveEntry("a.png", b"png")], [])


@pytest.mark.parametrize(
    ("fmt", "first", "second"),
    [
        ("zip", "a.txt", "./a.txt"),
        ("zip", "dir/a.txt", "dir\\a.txt"),
        ("tar", "a.txt", "a.txt"),
        ("tar", "dir/a.txt", "dir//a.txt"),
    ],
)
def test_duplicate_names_keep_the_first(fmt: str, first: str, second: str) -> None:
    data, filename = build(fmt, (first, b"first"), (second, b"second"))

    contents = read_archive(data, filename)

    assert [entry.data for entry in contents.entries] == [b"first"]
    assert contents.errors == [EntryError(second, "duplicate name in the archive")]


def test_non_utf8_zip_name_is_read_as_cp437() -> None:
    # Without flag bit 11 a zip name is cp437; zipfile writes ASCII or UTF-8, so the byte is put in afterwards.
    data = zip_bytes(("cafX.png", b"png")).replace(b"cafX.png", b"caf\x82.png")

    assert names(read_archive(data, "upload.zip")) == ["café.png"]


def test_non_utf8_tar_name_is_kept_readable() -> None:
    data = tar_bytes(("café.png", b"png"), format=tarfile.GNU_FORMAT, encoding="latin-1")

    contents = read_archive(data, "upload.tar")

    assert names(contents) == [b"caf\xe9.png".decode("cp437")]
    assert names(contents)[0].encode("utf-8")  # storable: no surrogates left


def test_error_names_are_escaped_and_shortened_for_printing() -> None:
    long_name = "../" + "x" * 1000
    data = tar_bytes((long_name, b"x"), ("a\x1b[31mred", b"x"), ("ok.txt", b"fine"))

    errors = read_archive(data, "upload.tar").errors

    assert errors[0].name == long_name[:300] + "…"
    assert errors[1].name == "a\\x1b[31mred"


def test_nothing_is_extracted_to_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("extracted to disk")

    for cls in (tarfile.TarFile, zipfile.ZipFile):
        monkeypatch.setattr(cls, "extract", refuse)
        monkeypatch.setattr(cls, "extractall", refuse)
    inner = zip_bytes(("a.txt", b"a"))
    data = tar_bytes(("inner.zip", inner), tar_special("link", tarfile.SYMTYPE, "/etc/passwd"), mode="w:gz")

    contents = read_archive(data, "upload.tgz")

    assert names(contents) == ["inner.zip/a.txt"]
