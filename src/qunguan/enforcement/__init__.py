"""Enforcement: reports, the review queue, sanctions, credit, statements of reasons, appeals."""

# Imported for their effect: the error codes are defined, and the sanctions checker answers
# kernel.restrictions.require_allowed, as soon as anything imports the package.
from qunguan.enforcement import errors as errors
from qunguan.enforcement import restrictions as restrictions

# The enums the pages (web/ and web/officer) pass to the actions and list with.
from qunguan.enforcement.models import AppealStatus as AppealStatus
from qunguan.enforcement.models import Decision as Decision
from qunguan.enforcement.models import ItemSource as ItemSource
from qunguan.enforcement.models import ItemStatus as ItemStatus
from qunguan.enforcement.models import ReportReason as ReportReason
from qunguan.enforcement.models import SanctionKind as SanctionKind
from qunguan.enforcement.models import SubjectType as SubjectType

__all__ = ["AppealStatus", "Decision", "ItemSource", "ItemStatus", "ReportReason",
           "SanctionKind", "SubjectType", "errors", "restrictions"]
