"""MagickBox: receive DICOM studies, run them through buckets, route the results."""

__version__ = "0.1.0"
