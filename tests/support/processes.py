"""Services as separate processes (`python -m <service> serve`), the distributed wiring: the
`stack` package's own, which `make stack` runs too."""

from stack.processes import ServiceProcess, StackError

__all__ = ["ServiceProcess", "StackError"]
