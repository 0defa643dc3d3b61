"""Identity: accounts, sessions, real-name verification and the identity vault.

Other capabilities use identity through ``actions``, ``queries`` and the names below.
"""

from qunguan.identity.deps import SESSION_COOKIE, CurrentAccount
from qunguan.identity.models import Account, AccountKind

__all__ = ["SESSION_COOKIE", "Account", "AccountKind", "CurrentAccount"]
