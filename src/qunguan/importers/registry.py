"""The importer registry: one typed interface every archive format implements. The built-in
formats (``wecom-archive``, ``wechat-csv``, ``whatsapp-txt``, ``telegram-json``, ``jsonl``)
register through ``register_importer`` exactly as a third party's would::

    from qunguan.importers import register_importer
    register_importer(MyExportImporter())

``read`` yields events and ``ReadError``s in file order and must not hold the file in
memory; ``sniff`` looks at the decoded first 64 KiB and says whether the file is its format
(``--format auto`` asks the importers in registration order and takes the first that says
yes).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from qunguan.importers.events import ArchiveEvent
from qunguan.importers.reading import ReadError, Source


class Importer(Protocol):
    name: str
    title: str

    def sniff(self, head: str) -> bool: ...

    def read(self, source: Source) -> Iterator[ArchiveEvent | ReadError]: ...


_IMPORTERS: dict[str, Importer] = {}


def register_importer(importer: Importer) -> None:
    if importer.name in _IMPORTERS:
        raise ValueError(f"importer {importer.name!r} registered twice")
    _IMPORTERS[importer.name] = importer


def unregister_importer(name: str) -> None:
    _IMPORTERS.pop(name, None)


def importers() -> list[Importer]:
    return list(_IMPORTERS.values())


def get_importer(name: str) -> Importer | None:
    return _IMPORTERS.get(name)


class UnknownFormat(ValueError):
    """A format that no importer reads, or a file whose format could not be detected."""


def detect(source: Source) -> Importer:
    head = source.head()
    for importer in _IMPORTERS.values():
        if importer.sniff(head):
            return importer
    raise UnknownFormat(f"{source.name}: the format could not be detected (known: "
                        f"{', '.join(_IMPORTERS)}); say --format")


def resolve(source: Source, fmt: str) -> Importer:
    if fmt == "auto":
        return detect(source)
    found = _IMPORTERS.get(fmt)
    if found is None:
        raise UnknownFormat(f"unknown format {fmt!r} (known: auto, {', '.join(_IMPORTERS)})")
    return found


def read_events(source: Source, fmt: str = "auto") -> Iterator[ArchiveEvent | ReadError]:
    """Events and errors of one file; an undetectable or unreadable file is one ReadError."""
    try:
        importer = resolve(source, fmt)
    except UnknownFormat as exc:
        yield ReadError(source.name, 0, str(exc))
        return
    except OSError as exc:
        yield ReadError(source.name, 0, f"cannot read: {exc.strerror or exc}")
        return
    try:
        yield from importer.read(source)
    except OSError as exc:
        yield ReadError(source.name, 0, f"cannot read: {exc.strerror or exc}")
