"""Red envelopes (红包): payment providers, the double-entry ledger, envelopes and claims.

Funds are held by a licensed payment provider (PAY-1); this capability keeps references and
mirrors every movement in an append-only ledger of integer fen. Other capabilities do not
import it: it sits above messaging, groups and identity, as enforcement does.
"""

from qunguan.envelopes import detector as _detector
from qunguan.envelopes import (
    errors,  # noqa: F401  (defines the error codes)
    handlers,  # noqa: F401  (registers the outbox handlers)
)
from qunguan.envelopes.models import Split

_detector.register()  # the vote-buying detector of the screening gate

__all__ = ["Split"]
