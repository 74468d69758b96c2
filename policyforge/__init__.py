"""The front door: the ``policyforge`` command line, above every library package.

`policyforge.main` is the dispatcher (the console script); `policyforge.commands` holds one
module per command family, each parsing its own arguments and calling library functions;
`policyforge.exit_codes` is the one table of exit codes and `policyforge.console` the one way
errors and JSON reach the person. Imports flow one way: this package imports agents, tools,
sandbox, traces and simulator; none of them imports it.
"""

__all__ = ["main"]
