"""Pictures of stored DICOM files: series thumbnails and viewer images, rendered on the server.

Enters: a session (through the store) and a series or instance the store's study index knows.
Leaves: PNG bytes and instance listings; renders are cached under `<session>/.preview/`, made
lazily on request (never by the receiver) and deleted with the session. May import the store
and the layers below it; never a stage or an edge.
"""

from magickbox.preview.render import Window, placeholder_png, render_png
from magickbox.preview.service import Previews

__all__ = ["Previews", "Window", "placeholder_png", "render_png"]
