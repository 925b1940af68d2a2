"""On-call schedules: the file format, and who is on call when. Pure: no I/O but reading the file."""

from warroom.oncall.model import Layer, OnCall, OncallFile, OncallFileError, Override, Schedule, Shift
from warroom.oncall.resolve import shifts, who_is_on_call
from warroom.oncall.schedules import load_oncall_file, parse_oncall

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
