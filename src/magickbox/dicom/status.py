"""DIMSE status codes the box answers with (PS3.7 Annex C, PS3.4 Annex B)."""

from __future__ import annotations

from typing import Final

SUCCESS: Final = 0x0000
# C-STORE failures
OUT_OF_RESOURCES: Final = 0xA700  # no room to store the instance
DATA_SET_DOES_NOT_MATCH_SOP_CLASS: Final = 0xA900
CANNOT_UNDERSTAND: Final = 0xC000  # the data set could not be parsed (e.g. no SOP Instance UID)
PROCESSING_FAILURE: Final = 0x0110
SOP_CLASS_NOT_SUPPORTED: Final = 0x0122
REFUSED_NOT_AUTHORIZED: Final = 0x0124

NAMES: Final[dict[int, str]] = {
    SUCCESS: "success",
    OUT_OF_RESOURCES: "out of resources",
    DATA_SET_DOES_NOT_MATCH_SOP_CLASS: "data set does not match SOP class",
    CANNOT_UNDERSTAND: "cannot understand",
    PROCESSING_FAILURE: "processing failure",
    SOP_CLASS_NOT_SUPPORTED: "SOP class not supported",
    REFUSED_NOT_AUTHORIZED: "refused: not authorized",
}


def describe(status: int) -> str:
    return f"0x{status:04X} ({NAMES.get(status, 'unknown')})"
