"""Identity: accounts, sessions, real-name verification and the identity vault.

Other capabilities use identity through ``actions``, ``queries`` and the names below.
"""

from qunguan.identity.deps import CurrentAccount
from qunguan.identity.models import Account, AccountKind

__all__ = ["Account", "AccountKind", "CurrentAccount"]
