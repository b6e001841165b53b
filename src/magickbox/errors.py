"""Domain errors. Each edge (DICOM status, HTTP status, CLI exit, job failure) translates them once."""

from __future__ import annotations


class MagickBoxError(Exception):
    """Base of every error the box raises on purpose."""


class SettingsError(MagickBoxError):
    """A setting is missing or invalid; the box must not start."""


class NotFound(MagickBoxError):
    """A session, bucket or file named by a request does not exist."""


class Conflict(MagickBoxError):
    """The request is valid but the object's state does not allow it (e.g. cancel a finished job)."""


class InvalidInput(MagickBoxError):
    """The request or the data it carries is malformed."""


class StoreFull(MagickBoxError):
    """The store could not write: the data folder is full (SQLITE_FULL, ENOSPC) or failing (I/O error).

    Edges answer HTTP 507 or a DICOM out-of-resources status; deleting still works (it frees space).
    """
