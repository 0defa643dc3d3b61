"""Groups: membership and roles, caps, categories and tiers, the admin toolset."""

from qunguan.groups.models import Category, Group, Membership, Role

__all__ = ["Category", "Group", "Membership", "Role"]
