"""On-call schedules: the file format, and who is on call when. Pure: no I/O but reading the file."""

from warroom.oncall.schedules import (
    Layer,
    OnCall,
    OncallFile,
    OncallFileError,
    Override,
    Schedule,
    Shift,
    load_oncall_file,
    parse_oncall,
    shifts,
    who_is_on_call,
)

__all__ = [
    "Layer",
    "OnCall",
    "OncallFile",
    "OncallFileError",
    "Override",
    "Schedule",
    "Shift",
    "load_oncall_file",
    "parse_oncall",
    "shifts",
    "who_is_on_call",
]
