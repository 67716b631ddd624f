"""The service layer's read side: one call per command for what the CLI shows.

Each function here opens the workspace's database once, checks that the acting user may
read (docs/architecture.md, decision 9), and returns typed records or plain results, so
that ``rct/cli/`` only parses options, makes one call and prints. State changes live in
the concern's own service module (:mod:`rct.protocols`, :mod:`rct.allocation.sealing`,
:mod:`rct.analyses`, :mod:`rct.users`, :mod:`rct.capture`), each through
:meth:`rct.workspace.Workspace.change`.
"""
