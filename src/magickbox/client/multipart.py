"""A multipart/form-data body streamed from a generator, with its exact length known up front."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


def _quote(value: str) -> str:
    # What browsers do with quotes and line breaks in a form-data name or filename.
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


@dataclass
class StreamedForm:
    """Form fields first (a server can check them before the file arrives), then one file part."""

    fields: dict[str, str]
    file_field: str
    file_name: str
    file_length: int
    file_chunks: Iterable[bytes]
    content_type_of_file: str = "application/zip"

    def __post_init__(self) -> None:
        self.boundary = "mb-" + secrets.token_hex(16)
        head = [self._field(name, value) for name, value in self.fields.items()]
        disposition = f'form-data; name="{_quote(self.file_field)}"; filename="{_quote(self.file_name)}"'
        head.append(
            f"--{self.boundary}\r\nContent-Disposition: {disposition}\r\n"
            f"Content-Type: {self.content_type_of_file}\r\n\r\n".encode()
        )
        self.head = b"".join(head)
        self.tail = f"\r\n--{self.boundary}--\r\n".encode()

    def _field(self, name: str, value: str) -> bytes:
        return (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'.encode()
            + value.encode("utf-8")
            + b"\r\n"
        )

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def length(self) -> int:
        return len(self.head) + self.file_length + len(self.tail)

    def chunks(self) -> Iterator[bytes]:
        yield self.head
        yield from self.file_chunks
        yield self.tail
