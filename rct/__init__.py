"""The ``rct`` application: trial database, audit trail, roles, data capture, CLI.

Importing this package is cheap; heavy libraries load only in the commands that need them.
"""

__version__ = "0.1.0"
