"""The trial protocol and statistical analysis plan: format, loader, canonical fingerprint.

>>> from protocols import load_protocol, shipped_protocol_path
>>> p = load_protocol(shipped_protocol_path())
>>> len(p.units)
7
"""

from protocols.canonical import canonical_json, fingerprint
from protocols.errors import Problem, ProtocolError, ProtocolValidationError
from protocols.loader import (
    load_protocol,
    loads_protocol,
    protocol_from_data,
    shipped_protocol_path,
)
from protocols.model import (
    AllocationSpec,
    Analysis,
    Arm,
    Indicator,
    Protocol,
    Schedule,
    Trial,
    Unit,
)
from protocols.quarters import Quarter, QuarterError

__all__ = [
    "AllocationSpec",
    "Analysis",
    "Arm",
    "Indicator",
    "Problem",
    "Protocol",
    "ProtocolError",
    "ProtocolValidationError",
    "Quarter",
    "QuarterError",
    "Schedule",
    "Trial",
    "Unit",
    "canonical_json",
    "fingerprint",
    "load_protocol",
    "loads_protocol",
    "protocol_from_data",
    "shipped_protocol_path",
]
