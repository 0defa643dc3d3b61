"""Groups: membership and roles, caps, categories and tiers, the admin toolset."""

from qunguan.groups.models import (
    Category,
    ElectionPeriod,
    ElectionPolicy,
    ElectionScope,
    Group,
    JoinPolicy,
    Membership,
    Role,
)

__all__ = ["Category", "ElectionPeriod", "ElectionPolicy", "ElectionScope", "Group",
           "JoinPolicy", "Membership", "Role"]
