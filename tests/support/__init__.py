"""Shared test helpers: free ports, a real `magickbox serve` process, DICOM test data."""
