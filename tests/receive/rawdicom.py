"""Hand-made PDUs for attack tests: what a hostile or broken peer puts on the wire."""

from __future__ import annotations

import socket
import struct
import time

APP_CONTEXT = "1.2.840.10008.3.1.1.1"
VERIFICATION = "1.2.840.10008.1.1"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"


def _item(item_type: int, value: bytes) -> bytes:
    return bytes((item_type, 0)) + struct.pack(">H", len(value)) + value


def _uid(value: str) -> bytes:
    return value.encode("ascii")


def ae(title: bytes) -> bytes:
    return title.ljust(16, b" ")[:16]


def associate_rq(
    contexts: list[tuple[str, list[str]]],
    *,
    called: bytes = b"ProcBucket",
    calling: bytes = b"RAWSCU",
    max_pdu: int = 16384,
) -> bytes:
    """An A-ASSOCIATE-RQ proposing `contexts` (abstract syntax, transfer syntaxes), ids 1, 3, 5..."""
    items = _item(0x10, _uid(APP_CONTEXT))
    for index, (abstract, syntaxes) in enumerate(contexts):
        body = bytes(((2 * index + 1) & 0xFF, 0, 0, 0)) + _item(0x30, _uid(abstract))
        body += b"".join(_item(0x40, _uid(s)) for s in syntaxes)
        items += _item(0x20, body)
    user = _item(0x51, struct.pack(">I", max_pdu)) + _item(0x52, b"1.2.3.4")
    items += _item(0x50, user)
    variable = struct.pack(">HH", 1, 0) + ae(called) + ae(calling) + bytes(32) + items
    return b"\x01\x00" + struct.pack(">I", len(variable)) + variable


def p_data(*values: tuple[int, int, bytes]) -> bytes:
    """A P-DATA-TF PDU of (context id, message control header, bytes) values."""
    items = b"".join(struct.pack(">IBB", len(data) + 2, cid, header) + data for cid, header, data in values)
    return b"\x04\x00" + struct.pack(">I", len(items)) + items


def _element(group: int, element: int, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\x00"
    return struct.pack("<HHI", group, element, len(value)) + value


def command_set(command_field: int, sop_class: str, message_id: int, *, sop_instance: str = "") -> bytes:
    """An implicit VR little endian command set; C-STORE-RQ (0x0001) says a data set follows."""
    body = _element(0, 0x0002, _uid(sop_class)) + _element(0, 0x0100, struct.pack("<H", command_field))
    body += _element(0, 0x0110, struct.pack("<H", message_id))
    if command_field == 0x0001:
        body += _element(0, 0x0700, struct.pack("<H", 0)) + _element(0, 0x0800, struct.pack("<H", 0))
        body += _element(0, 0x1000, _uid(sop_instance))
    else:
        body += _element(0, 0x0800, struct.pack("<H", 0x0101))
    return _element(0, 0x0000, struct.pack("<I", len(body))) + body


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return sock


def read_pdu(sock: socket.socket) -> bytes:
    """One PDU from the box, or b"" when it closed the connection."""
    header = _read(sock, 6)
    if len(header) < 6:
        return b""
    return header + _read(sock, struct.unpack(">I", header[2:6])[0])


def _read(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return data


def closed_by_peer(sock: socket.socket, timeout: float = 30.0) -> bool:
    """Reads until the box closes the connection (True) or `timeout` passes (False)."""
    sock.settimeout(0.5)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            continue
        except OSError:
            return True
    return False
