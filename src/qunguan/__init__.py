"""qunguan (群管): a self-hosted group information service for institutions."""

__version__ = "0.1.0"
