"""Shared by every capability; imports none of them."""
