"""``qunguan audit --import-into``: an archive loaded into the database through the
importers' actions, acting as the system account, a batch per transaction."""

from __future__ import annotations

from dataclasses import dataclass

from qunguan.identity import queries as identity_queries
from qunguan.importers.actions import do_finish_import, do_import_batch, do_start_import
from qunguan.importers.events import ArchiveEvent
from qunguan.importers.stream import Archive, StrictStop
from qunguan.kernel.uow import UnitOfWork

BATCH = 1000


@dataclass(frozen=True)
class LoadResult:
    import_id: int
    events: int
    errors: int
    digest: str
    status: str

    def describe(self) -> str:
        return (f"archive import {self.import_id} {self.status}: {self.events} event(s) "
                f"loaded, {self.errors} unreadable place(s); chain digest {self.digest}")


def load_archive(uow: UnitOfWork, archive: Archive) -> LoadResult:
    """Load every readable event; with ``archive.strict`` the first unreadable place ends the
    import (marked ``stopped``, what came before it kept) and StrictStop is raised after."""
    system = identity_queries.system_account(uow)
    row = do_start_import(uow, acting=system, files=[s.path.name for s in archive.sources],
                          fmt=archive.fmt)
    uow.commit()
    batch: list[ArchiveEvent] = []
    counted = 0

    def flush() -> None:
        nonlocal batch, counted
        if batch or archive.errors > counted:
            do_import_batch(uow, acting=system, archive=row, events=batch,
                            errors=archive.errors - counted)
            counted = archive.errors
            uow.commit()
        batch = []

    stopped: StrictStop | None = None
    try:
        for event in archive:
            batch.append(event)
            if len(batch) >= BATCH:
                flush()
    except StrictStop as exc:
        stopped = exc
    flush()
    do_finish_import(uow, acting=system, archive=row, stopped=stopped is not None)
    uow.commit()
    result = LoadResult(row.id, row.events, row.errors, row.digest, row.status)
    if stopped is not None:
        raise stopped
    return result
