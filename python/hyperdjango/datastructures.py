"""Headers and query parameters: small, readable containers built lazily by the native Request."""

from __future__ import annotations

import io
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any, BinaryIO

__all__ = ["Headers", "QueryDict", "FormData", "UploadedFile", "State"]

# RFC 9110 token: what a header name may be.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+").fullmatch
_VALID_NAMES: set[str] = set()
# The longest file name most file systems accept (ext4, XFS, APFS, NTFS: 255).
MAX_FILENAME_BYTES = 255


class Headers(MutableMapping[str, str]):
    """Case-insensitive HTTP headers that keep repeated fields.

    ``headers["content-type"]`` and ``headers["Content-Type"]`` are the same
    field; ``getlist`` returns every value of a repeated field (``Set-Cookie``);
    ``headers[name] = value`` replaces all values and ``add`` appends one.
    ``raw`` is the ordered list of ``(name, value)`` pairs as sent.
    """

    __slots__ = ("_pairs",)

    def __init__(
        self,
        raw: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> None:
        self._pairs: list[tuple[str, str]] = []
        if raw is None:
            return
        items = raw.items() if isinstance(raw, Mapping) else raw
        for name, value in items:
            self._pairs.append((_check_name(name), _check_value(name, value)))

    @property
    def raw(self) -> list[tuple[str, str]]:
        """Every ``(name, value)`` pair, in order, repeats included."""
        return self._pairs

    def __getitem__(self, name: str) -> str:
        key = name.lower()
        for field, value in self._pairs:
            if field.lower() == key:
                return value
        raise KeyError(name)

    def __setitem__(self, name: str, value: str) -> None:
        key = name.lower()
        value = _check_value(name, value)
        kept = [(field, old) for field, old in self._pairs if field.lower() != key]
        kept.append((_check_name(name), value))
        self._pairs = kept

    def __delitem__(self, name: str) -> None:
        key = name.lower()
        kept = [(field, value) for field, value in self._pairs if field.lower() != key]
        if len(kept) == len(self._pairs):
            raise KeyError(name)
        self._pairs = kept

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for field, _ in self._pairs:
            key = field.lower()
            if key not in seen:
                seen.add(key)
                yield key

    def __len__(self) -> int:
        return len({field.lower() for field, _ in self._pairs})

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = name.lower()
        return any(field.lower() == key for field, _ in self._pairs)

    def add(self, name: str, value: str) -> None:
        """Append a value, keeping existing ones (e.g. a second ``Set-Cookie``)."""
        self._pairs.append((_check_name(name), _check_value(name, value)))

    def getlist(self, name: str) -> list[str]:
        """Every value of ``name``, in order (empty list when absent)."""
        key = name.lower()
        return [value for field, value in self._pairs if field.lower() == key]

    def __repr__(self) -> str:
        return f"Headers({self._pairs!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return sorted((k.lower(), v) for k, v in self._pairs) == sorted(
                (k.lower(), v) for k, v in other._pairs
            )
        if isinstance(other, Mapping):
            return dict(self.items()) == {k.lower(): v for k, v in other.items()}
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


def _check_name(name: object) -> str:
    if isinstance(name, str) and name in _VALID_NAMES:
        return name
    if not isinstance(name, str) or not name:
        raise TypeError(f"header names must be non-empty str, not {name!r}")
    if not _TOKEN(name):
        raise ValueError(f"invalid header name {name!r}: use letters, digits and !#$%&'*+-.^_`|~")
    if len(_VALID_NAMES) < 1024:  # names seen before skip the regex (bounded)
        _VALID_NAMES.add(name)
    return name


def _check_value(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"header {name!r} must have a str value, not {type(value).__name__}")
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError(f"header {name!r} value must not contain CR, LF or NUL")
    return value


class State:
    """``request.state``: attributes set by middleware for the handler (and back).

    >>> request.state.user = "alice"
    """

    def __repr__(self) -> str:
        return f"State({vars(self)!r})"


class QueryDict(dict[str, str]):
    """Query parameters: a plain dict of each key's first value.

    ``request.query["tag"]`` is the first ``tag``; ``request.query.getlist("tag")``
    is all of them, in order; ``multi_items()`` is every pair as sent.
    """

    __slots__ = ("_pairs",)

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__()
        self._pairs = list(pairs)
        for key, value in self._pairs:
            self.setdefault(key, value)

    def getlist(self, key: str) -> list[str]:
        """Every value given for ``key`` (empty list when absent)."""
        return [value for name, value in self._pairs if name == key]

    def multi_items(self) -> list[tuple[str, str]]:
        """Every ``(key, value)`` pair, repeats included, in order."""
        return list(self._pairs)


class FormData(QueryDict):
    """Form fields: a dict of each field's first value (``str`` or ``UploadedFile``);
    ``getlist(name)`` has every value of a repeated field."""

    __slots__ = ()


class UploadedFile:
    """A file from a ``multipart/form-data`` body (``request.form["field"]``).

    Small files are held in memory. Larger ones (over 1 MB) stay on disk: the
    upload was written to a temporary file as it arrived, and this object reads
    its byte range of that file. The file is removed with the request, so
    ``save()`` what you want to keep.
    """

    __slots__ = (
        "filename",
        "content_type",
        "headers",
        "size",
        "_data",
        "_path",
        "_offset",
        "_file",
    )

    def __init__(
        self,
        filename: str,
        content_type: str | None,
        headers: Iterable[tuple[str, str]],
        size: int,
        data: bytes | None = None,
        path: str | None = None,
        offset: int = 0,
    ) -> None:
        self.filename = filename
        self.content_type = content_type or "application/octet-stream"
        self.headers = Headers(list(headers))
        self.size = size
        self._data = data
        self._path = path
        self._offset = offset
        self._file: BinaryIO | None = None

    @property
    def file(self) -> BinaryIO:
        """A binary file object positioned at the start of the content."""
        if self._file is None:
            if self._path is None:
                self._file = io.BytesIO(self._data or b"")
            else:
                self._file = io.BufferedReader(_FileRange(self._path, self._offset, self.size))
        return self._file

    @property
    def in_memory(self) -> bool:
        return self._path is None

    @property
    def safe_filename(self) -> str:
        """The client's file name reduced to a safe base name: no directories,
        no leading dots, and at most 255 bytes (UTF-8), the limit of common file
        systems, shortened before the extension as Django does."""
        name = self.filename.replace("\\", "/").rsplit("/", 1)[-1]
        name = "".join(
            character
            for character in name
            if character.isprintable() and character not in '<>:"|?*'
        )
        name = name.strip().lstrip(".")
        return _shorten_filename(name or "upload", MAX_FILENAME_BYTES)

    def read(self, size: int = -1) -> bytes:
        """Read from the current position (everything by default)."""
        return self.file.read(size)

    def save(self, destination: str | os.PathLike[str]) -> str:
        """Write the content to ``destination`` and return the path written.

        A directory gets a new file named ``safe_filename`` inside it: the
        client's name never chooses a location outside that directory, and
        never replaces what is there (as Django's storage, a taken name gets
        a random suffix before the extension). A file path is written as given.
        """
        target = os.fspath(destination)
        if os.path.isdir(target):
            output, target = _create_new_file(target, self.safe_filename)
        else:
            output = open(target, "wb")  # noqa: SIM115 - closed below
        with output:
            if self._path is not None:
                with _FileRange(self._path, self._offset, self.size) as source:
                    shutil.copyfileobj(source, output, 1024 * 1024)
            else:
                output.write(self._data or b"")
        return target

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __repr__(self) -> str:
        return f"<UploadedFile {self.filename!r} {self.content_type} {self.size} bytes>"


def _shorten_filename(name: str, limit: int) -> str:
    """``name`` cut to ``limit`` UTF-8 bytes on a character boundary, keeping
    its extension (itself cut if it alone is too long)."""
    if len(name.encode()) <= limit:
        return name
    root, extension = os.path.splitext(name)
    extension = (
        _cut_utf8(extension, limit // 2) if len(extension.encode()) > limit // 2 else extension
    )
    root = _cut_utf8(root, limit - len(extension.encode())).rstrip()
    return (root or "upload") + extension


def _create_new_file(directory: str, name: str) -> tuple[BinaryIO, str]:
    """A file created (exclusively) in ``directory`` as ``name``, or as
    ``name`` with a random suffix when that is taken (by a file or a folder)."""
    candidate = name
    for _ in range(100):
        path = os.path.join(directory, candidate)
        try:
            return open(path, "xb"), path  # noqa: SIM115 - the caller closes it
        except (FileExistsError, IsADirectoryError):
            root, extension = os.path.splitext(name)
            extension = _cut_utf8(extension, 100)
            suffix = "_" + secrets.token_hex(4)
            candidate = _shorten_filename(
                root, MAX_FILENAME_BYTES - len(suffix) - len(extension.encode())
            )
            candidate += suffix + extension
    raise FileExistsError(f"no free file name for {name!r} in {directory!r}")


def _cut_utf8(text: str, limit: int) -> str:
    return text.encode()[:limit].decode(errors="ignore")


class _FileRange(io.RawIOBase):
    """A read-only view of ``length`` bytes of a file, starting at ``offset``."""

    def __init__(self, path: str, offset: int, length: int) -> None:
        super().__init__()
        self.name = path
        self._handle = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._start = offset
        self._end = offset + length
        self._handle.seek(offset)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._end - self._handle.tell()
        if left <= 0:
            return 0
        view = memoryview(buffer)[: min(len(buffer), left)]
        return self._handle.readinto(view)

    def seek(self, position: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = self._start + position
        elif whence == io.SEEK_CUR:
            target = self._handle.tell() + position
        else:
            target = self._end + position
        self._handle.seek(min(max(target, self._start), self._end))
        return self._handle.tell() - self._start

    def tell(self) -> int:
        return self._handle.tell() - self._start

    def close(self) -> None:
        self._handle.close()
        super().close()
