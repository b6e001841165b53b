"""`GET /api/v1/machines`: the boxes this box knows, for `mb queryMachines`.

The original client asked a central server on the internet; here each box answers for itself and
for the peers listed in its `peers` setting ("host:port" of their HTTP API). Nothing is contacted.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from magickbox.web.deps import require_read

router = APIRouter()


def split_peer(peer: str) -> tuple[str, str]:
    """ "host:port", "[v6]:port" or "host" (port 2813)."""
    host, sep, port = peer.rpartition(":")
    if not sep or not port.isdigit() or (host.count(":") and not host.startswith("[")):
        return peer.strip("[]"), "2813"
    return host.strip("[]"), port


@router.get("/api/v1/machines", tags=["machines"], dependencies=[Depends(require_read)])
def list_machines(request: Request) -> list[dict[str, Any]]:
    """This box first (as the caller reached it), then its configured peers, in the `~/.magickbox` format."""
    settings = request.app.state.settings
    own_host = request.url.hostname or "127.0.0.1"
    own_port = str(request.url.port or settings.http_port)
    boxes: list[dict[str, Any]] = [
        {
            "Machine": own_host,
            "Port": own_port,
            "Sender": "",
            "Status": None,
            "Self": True,
            "AETitle": settings.ae_title,
            "DicomPort": str(settings.dicom_port),
        }
    ]
    for peer in settings.peers:
        host, port = split_peer(peer)
        if (host, port) != (own_host, own_port):
            boxes.append({"Machine": host, "Port": port, "Sender": "", "Status": None, "Self": False})
    return boxes
