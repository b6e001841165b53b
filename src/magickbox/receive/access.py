"""Who may send, and to which bucket: the called AE title picks the bucket, allow-lists filter callers."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from magickbox.config import Settings
from magickbox.receive.needs import ReceiverStore
from magickbox.store import Bucket


@dataclass(frozen=True)
class Target:
    """What an association is for: the box itself (C-ECHO only) or a bucket."""

    bucket: Bucket | None
    settle_s: float
    # The box's own AE title while a retrieval moves studies to it: storage is accepted, and each
    # instance goes to the session of the study being retrieved (see `retrieval_session`).
    retrieving: bool = False


class AccessPolicy:
    def __init__(self, settings: Settings, store: ReceiverStore) -> None:
        self.settings = settings
        self.store = store
        self.networks = [ipaddress.ip_network(n, strict=False) for n in settings.allowed_networks]

    def network_allowed(self, ip: str) -> bool:
        if not self.networks:
            return True
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def target(self, called_aet: str) -> Target | None:
        """The bucket for a called AE title, the box itself, or None (reject: not recognized)."""
        if called_aet == self.settings.ae_title:
            return Target(bucket=None, settle_s=0.0, retrieving=self.store.retrievals.any_moving())
        bucket = self.store.catalog().for_called_aet(called_aet)
        if bucket is None:
            return None
        settle = bucket.info.session_settle_s
        return Target(bucket=bucket, settle_s=self.settings.session_settle_s if settle is None else settle)

    def retrieval_session(self, calling_aet: str, study_uid: str) -> int | None:
        """The session of a study a retrieval is moving from the PACS `calling_aet`, joined by
        this association; None when no retrieval asked for that study (an ordinary send)."""
        return self.store.retrievals.incoming_session(calling_aet, study_uid)
