"""Reading several archives as one stream of events, counting and reporting what could not
be read: every bad line goes to ``on_error`` and the run goes on, unless ``strict``, when the
first one stops it (``StrictStop``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qunguan.importers.events import ArchiveEvent
from qunguan.importers.reading import ReadError, Source
from qunguan.importers.registry import read_events


class StrictStop(Exception):
    """``--strict``: the first unreadable place stops the run."""

    def __init__(self, error: ReadError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class Archive:
    """The files of one run, read in order, with progress and error counts."""

    paths: Sequence[Path]
    fmt: str = "auto"
    strict: bool = False
    on_error: Callable[[ReadError], None] | None = None
    sources: list[Source] = field(default_factory=list)
    errors: int = 0
    events: int = 0

    def __post_init__(self) -> None:
        self.sources = [Source(Path(p)) for p in self.paths]

    @property
    def total_bytes(self) -> int:
        total = 0
        for s in self.sources:
            try:
                total += s.path.stat().st_size
            except OSError:
                continue
        return total

    @property
    def bytes_read(self) -> int:
        return sum(s.bytes_read for s in self.sources)

    def __iter__(self) -> Iterator[ArchiveEvent]:
        for source in self.sources:
            for item in read_events(source, self.fmt):
                if isinstance(item, ReadError):
                    self.errors += 1
                    if self.on_error is not None:
                        self.on_error(item)
                    if self.strict:
                        raise StrictStop(item)
                    continue
                self.events += 1
                yield item
