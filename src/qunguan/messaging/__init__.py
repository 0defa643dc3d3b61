"""Messaging: messages, forwards with provenance, recall, realtime delivery."""

from qunguan.messaging.models import Message, MessageStatus

__all__ = ["Message", "MessageStatus"]
