"""tap-branch: a Singer tap for Branch (branch.io)."""

__version__ = "0.1.0"
