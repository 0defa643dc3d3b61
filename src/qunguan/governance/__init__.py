"""Governance: retention and legal hold, the unmasking requests officers make about cases and
rumour cascades, and case export. It sits on top of every other capability (it reads their
records for a case and purges their content past retention); nothing below imports it (only
app, cli and the web pages)."""

# Imported for their effect: the error codes are defined as soon as the package is.
from qunguan.governance import errors as errors
from qunguan.governance.models import HoldScope

__all__ = ["HoldScope"]
