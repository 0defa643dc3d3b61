"""Reading export files line by line in constant memory: encoding detection (UTF-8, UTF-8
with a byte-order mark, GB18030), lines bounded in length, and the errors every importer
reports (file, line, reason) instead of stopping."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

# A line longer than this is reported and skipped without being held in memory: no real
# message comes near it, and a "line" of hundreds of megabytes is a broken or hostile file.
MAX_LINE_BYTES = 8 * 1024 * 1024
_CHUNK = 1024 * 1024
SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class ReadError:
    """A place in an input that could not be read, and why. ``line`` is 0 for the whole
    file."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


def detect_encoding(head: bytes) -> str:
    """``utf-8-sig`` with a byte-order mark; otherwise, line by line over the head, ``utf-8``
    unless more lines fail to decode as UTF-8 than succeed and GB18030 reads them (so one line
    of garbage does not turn a UTF-8 file into GB18030); ``utf-8`` for pure ASCII."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    lines = head.split(b"\n")
    if len(lines) > 1:
        lines = lines[:-1]  # the last one may be cut anywhere
    utf8 = other = 0
    for line in lines:
        if line.isascii() or b"\x00" in line:
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            try:
                line.decode("gb18030")
            except UnicodeDecodeError:
                continue
            other += 1
        else:
            utf8 += 1
    return "gb18030" if other > utf8 else "utf-8"


@dataclass
class Source:
    """An input file. ``bytes_read`` grows as lines are read (for progress)."""

    path: Path
    encoding: str = ""
    bytes_read: int = 0

    @property
    def name(self) -> str:
        return str(self.path)

    def head(self, size: int = SNIFF_BYTES) -> str:
        """The decoded start of the file, for detecting its format and encoding."""
        with self.path.open("rb") as f:
            raw = f.read(size)
        if not self.encoding:
            self.encoding = detect_encoding(raw)
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="replace")
        return decoder.decode(raw, final=False)

    def open_binary(self) -> BinaryIO:
        return self.path.open("rb")

    def lines(self) -> Iterator[tuple[int, str | ReadError]]:
        """(line number, text without the line ending) for each line, or a ReadError for a
        line that is too long, holds NUL bytes or is not text in the file's encoding."""
        if not self.encoding:
            self.head()
        encoding = "utf-8" if self.encoding == "utf-8-sig" else self.encoding
        with self.path.open("rb") as f:
            number = 0
            while True:
                raw = f.readline(MAX_LINE_BYTES + 1)
                if not raw:
                    return
                number += 1
                self.bytes_read += len(raw)
                if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                    # Skip the rest of the line chunk by chunk, never holding it whole.
                    skipped = len(raw)
                    while True:
                        more = f.readline(_CHUNK)
                        skipped += len(more)
                        self.bytes_read += len(more)
                        if not more or more.endswith(b"\n"):
                            break
                    yield number, ReadError(self.name, number,
                                            f"line of {skipped} bytes is longer than the "
                                            f"{MAX_LINE_BYTES} bytes allowed; skipped")
                    continue
                if number == 1 and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8):]
                if b"\x00" in raw:
                    yield number, ReadError(self.name, number, "binary data (NUL bytes), not "
                                            "text")
                    continue
                try:
                    text = raw.decode(encoding)
                except UnicodeDecodeError as exc:
                    yield number, ReadError(self.name, number,
                                            f"not {self.encoding} text (byte {exc.start + 1})")
                    continue
                yield number, text.rstrip("\r\n")
