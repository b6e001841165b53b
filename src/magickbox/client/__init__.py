"""The `mb` client: many sessions on many boxes, over the boxes' HTTP API (and DICOM for push)."""
