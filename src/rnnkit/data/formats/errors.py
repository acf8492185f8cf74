"""The error a file loader raises on bad user data: it names the file, the line (or the item of an
array file) and the field."""

from __future__ import annotations

from pathlib import Path


class DataFileError(ValueError):
    """Bad content in a user's data file.

    The message reads ``"FILE, line N, field F: what is wrong"`` (line and field when known), so
    the user can open the file at the right place; files of arrays (npz) name the ``item`` instead,
    counting from 0 as their indices do (``"FILE, field 'x', item 3: ..."``). ``path``, ``line``,
    ``field`` and ``item`` are kept as attributes for programs.

    Example:
        >>> raise DataFileError("train.tsv", "no tab between source and target", line=3, field="target")
    """

    def __init__(self, path: str | Path, message: str, *, line: int | None = None,
                 field: str | int | None = None, item: int | None = None) -> None:
        self.path, self.line, self.field, self.item, self.message = str(path), line, field, item, message
        where = self.path
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field {field!r}" if isinstance(field, str) else f", field {field}"
        if item is not None:
            where += f", item {item}"
        super().__init__(f"{where}: {message}")

    def __reduce__(self) -> tuple[object, ...]:
        """Rebuilt with its own arguments when unpickled (from a worker process, say)."""
        return _rebuild, (type(self), self.path, self.message, self.line, self.field, self.item)


def _rebuild(cls: type[DataFileError], path: str, message: str, line: int | None,
             field: str | int | None, item: int | None = None) -> DataFileError:
    return cls(path, message, line=line, field=field, item=item)


def check_exists(path: str | Path, what: str = "file") -> Path:
    """``Path(path)``, or FileNotFoundError saying which path and what kind of thing was expected."""
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"{what} {str(p)!r} does not exist")
    if what == "folder" and not p.is_dir():
        raise NotADirectoryError(f"{str(p)!r} is not a folder")
    if what != "folder" and p.is_dir():
        raise IsADirectoryError(f"{str(p)!r} is a folder, expected a {what}")
    return p


def read_utf8(path: Path) -> str:
    """The text of a UTF-8 file (a leading byte-order mark dropped, as editors on Windows write one),
    or :class:`DataFileError` naming the file, the line and the column of the first bad byte."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        where = bad_utf8_place(path.read_bytes())  # e.start counts from the decoder's chunk, not the file
        line, column = where if where is not None else (None, 0)
        at = f", column {column}" if column else ""
        raise DataFileError(path, f"is not UTF-8 text ({e.reason}{at}); re-encode the file as UTF-8 (e.g. "
                            "iconv -f latin1 -t utf-8 FILE)", line=line) from e


def bad_utf8_place(raw: bytes) -> tuple[int, int] | None:
    """``(line, column)``, both from 1, of the first byte of ``raw`` that is not UTF-8 (a leading
    byte-order mark not counted); the column counts characters, as an editor does. None if all is UTF-8."""
    raw = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line_start = raw.rfind(b"\n", 0, e.start) + 1
        return raw.count(b"\n", 0, e.start) + 1, len(raw[line_start:e.start].decode("utf-8", errors="replace")) + 1
    return None


def file_lines(text: str) -> list[str]:
    """``text`` split at ``\n`` alone (a trailing ``\r`` dropped): the lines an editor numbers.
    ``str.splitlines`` also splits at U+2028, form feeds and other characters that belong inside
    a line, which would shift every later line number in an error."""
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


__all__ = ["DataFileError", "check_exists", "file_lines", "read_utf8"]
