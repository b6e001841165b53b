"""The notify stage: signed webhooks for events of the box (docs/notifications.md).

Enters: events of the store's outbox (store.notifications), recorded by triggers when a session
ends or a delivery gives up, or by other stages. Leaves: HTTP POSTs to the configured webhooks,
and their outcome back in the store. Imports the store, models and config only.
"""
