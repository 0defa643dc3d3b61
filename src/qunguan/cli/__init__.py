"""The `qunguan` command."""
