"""What the previews take from the store: the parts they use, as a Protocol.

`Store` has them all; mypy checks that `Store` fits where app.py builds the service.
"""

from __future__ import annotations

from typing import Protocol

from magickbox.config import Settings
from magickbox.store import ScratchLayout, SessionStore, StudyIndex


class PreviewStore(Protocol):
    """The session a scratchdir names, its series in the study index, and its folders."""

    settings: Settings
    sessions: SessionStore
    studies: StudyIndex
    layout: ScratchLayout
