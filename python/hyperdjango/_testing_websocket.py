"""``TestClient.websocket_connect``: a WebSocket over an in-memory connection.

The handshake and the frames are the client side of the ``websockets``
library's sans-I/O protocol (masking, fragments, close handshake), written to
and read from the same in-memory connection the native server serves, so
the server's native upgrade checks, framing and close handling all run.
"""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any

from .testing import WebSocketDenied
from .websocket import WebSocketDisconnect

__all__ = ["WebSocketTestSession"]


class WebSocketTestSession:
    """An accepted WebSocket (Starlette's names): ``send_text``/``receive_text``,
    ``send_bytes``/``receive_bytes``, ``send_json``/``receive_json``, ``close``.

    ``receive_*`` raise ``WebSocketDisconnect`` (code and reason of the close
    frame) once the server closed the connection.
    """

    def __init__(
        self,
        connection: Any,
        url: str,
        headers: list[tuple[str, str]],
        subprotocols: list[str] | None,
        timeout: float,
    ) -> None:
        from websockets.client import ClientProtocol
        from websockets.datastructures import Headers
        from websockets.typing import Subprotocol
        from websockets.uri import parse_uri

        self._connection = connection
        self._timeout = timeout
        self._pending: list[Any] = []
        self._closed: WebSocketDisconnect | None = None
        offered = [Subprotocol(name) for name in subprotocols or ()]
        self._protocol = ClientProtocol(parse_uri(url), subprotocols=offered or None, max_size=None)
        request = self._protocol.connect()
        extra = Headers(headers)
        for name, value in extra.raw_items():
            request.headers[name] = value
        self._protocol.send_request(request)
        self._flush()
        response: Any = None  # the handshake's answer (a websockets.http11.Response)
        while response is None:
            self._read()
            for event in self._protocol.events_received():
                if response is None:
                    response = event
                else:
                    self._pending.append(event)
        if self._protocol.handshake_exc is not None:
            raise WebSocketDenied(response.status_code, bytes(response.body or b""))
        self.subprotocol: str | None = self._protocol.subprotocol
        self.response_headers = response.headers

    # -- I/O ------------------------------------------------------------------

    def _flush(self) -> None:
        for data in self._protocol.data_to_send():
            if data:
                self._connection.send(data)
            else:
                self._connection.shutdown_write()

    def _read(self) -> None:
        data = self._connection.receive(65536, self._timeout)
        if data:
            self._protocol.receive_data(data)
        else:
            self._protocol.receive_eof()
        self._flush()  # pongs and the closing handshake's answer

    def _next_message(self) -> str | bytes:
        from websockets.frames import Opcode

        parts: list[bytes] = []
        opcode = None
        while True:
            while not self._pending:
                if self._closed is not None:
                    raise self._closed
                if self._protocol.close_rcvd is not None or self._protocol.state.name == "CLOSED":
                    close = self._protocol.close_rcvd
                    self._closed = WebSocketDisconnect(
                        close.code if close else 1006, close.reason if close else ""
                    )
                    raise self._closed
                self._read()
                self._pending.extend(self._protocol.events_received())
            frame = self._pending.pop(0)
            if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
                opcode, parts = frame.opcode, [frame.data]
            elif frame.opcode is Opcode.CONT:
                parts.append(frame.data)
            else:
                continue  # ping, pong, close: handled by the protocol
            if frame.fin:
                data = b"".join(parts)
                return data.decode() if opcode is Opcode.TEXT else data

    # -- Starlette's API --------------------------------------------------------

    def send_text(self, data: str) -> None:
        self._protocol.send_text(data.encode())
        self._flush()

    def send_bytes(self, data: bytes) -> None:
        self._protocol.send_binary(bytes(data))
        self._flush()

    def send_json(self, data: Any, mode: str = "text") -> None:
        text = json.dumps(data, separators=(",", ":"))
        if mode == "binary":
            self.send_bytes(text.encode())
        else:
            self.send_text(text)

    def receive_text(self) -> str:
        message = self._next_message()
        if not isinstance(message, str):
            raise TypeError("expected a text message, received a binary one")
        return message

    def receive_bytes(self) -> bytes:
        message = self._next_message()
        if not isinstance(message, bytes):
            raise TypeError("expected a binary message, received a text one")
        return message

    def receive_json(self, mode: str = "text") -> Any:
        message = self._next_message()
        return json.loads(message)

    def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Start the closing handshake and wait for the server's close frame."""
        if self._closed is not None or self._protocol.close_sent is not None:
            return
        self._protocol.send_close(code, reason or "")
        self._flush()
        try:
            while self._protocol.close_rcvd is None and self._protocol.state.name != "CLOSED":
                self._read()
        except (TimeoutError, ConnectionError):
            pass
        self._closed = WebSocketDisconnect(code, reason or "")
        self._connection.shutdown_write()

    def __enter__(self) -> WebSocketTestSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
