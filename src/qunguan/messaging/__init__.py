"""Messaging: messages, forwards with provenance, recall, realtime delivery."""
