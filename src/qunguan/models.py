"""Imports every capability's tables so the metadata is complete (Alembic, create_app)."""

from __future__ import annotations


def load_all_models() -> None:
    import qunguan.auditlog.models
    import qunguan.enforcement.models
    import qunguan.envelopes.models
    import qunguan.governance.models
    import qunguan.groups.models
    import qunguan.identity.models
    import qunguan.importers.models
    import qunguan.kernel.models
    import qunguan.messaging.models
    import qunguan.rumors.models
    import qunguan.screening.models  # noqa: F401
