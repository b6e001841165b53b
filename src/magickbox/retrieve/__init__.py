"""The retrieve stage: fetches studies from a PACS into buckets.

Enters: retrievals recorded in the store (`store.retrievals`, made by the API). Leaves: one
`receiving` session per study found, filled by the PACS (C-MOVE, through the receiver) or by
this stage (C-GET), and sealed when the PACS reports the study complete.
May import: store, dicom, config, errors; never another stage, the API or the page.
"""
