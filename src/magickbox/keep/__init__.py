"""Housekeeping: retention by age, disk watermarks, INPUT trimming, audit rotation.

Enters: ended sessions and their buckets' retention settings, read from the store; the disk use of
the data folder. Leaves: deletions and trims, each done and audited through the store
(`store.retention`). Imports the store, config and models only; never another stage.
"""
