"""Connection deadlines uvicorn lacks: uvicorn's HTTP/1.1 protocol (h11) with a clock on the client's side of it.

uvicorn closes a connection idle *between* requests (``timeout_keep_alive``) and nothing else: a client that opens a
socket and sends nothing, drip-feeds a request head, or sends a body shorter than its ``Content-Length`` holds the
connection (and the request task, and the part of the upload already in memory) for ever. This protocol adds:

- a **head deadline** (``header_timeout_s``): from the connection opening, or from the first byte of the next
  request on a kept-alive connection, to the end of the request head. Missed with nothing received: the socket is
  closed; with part of a head received: a 408 problem, then closed.
- a **body deadline** (``body_timeout_s`` from the end of the head) and a **body idle deadline**
  (``body_idle_timeout_s`` without a byte; not counted while the app is the one not reading). Missed: a 408
  problem when no answer has started (the app's ``receive()`` then reports a disconnect), then closed.

- a **lingering close**: when the server answers and closes before reading a body the client is still sending
  (413 too large, 503 busy), closing at once would make the kernel reset the connection, and the client, busy
  sending, would see the reset instead of the answer (measured: 8 of 106 requests in bench/load.py). Instead the
  server half-closes after the answer and reads and drops the rest for at most ``LINGER_S``, as nginx does.

Nothing runs against the server's own time: once a request has arrived whole, chopping it may take as long as it
takes. Timers are the event loop's (``call_at``), one per connection at a time; no task, no polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from typing import Any, ClassVar, NamedTuple

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from samplechop.service.api.headers import RAW_SECURITY_HEADERS
from samplechop.service.api.problems import PROBLEM_MEDIA_TYPE, problem_type
from samplechop.service.api.settings import Settings

# How long the rest of a body already answered is read and dropped before the socket is closed. On loopback or a
# LAN a client finishes sending 100 MB in well under this; a slower one gets a reset after it, as before. (nginx's
# lingering_time is 30 s; shorter here because every lingering connection is one a hostile client could hold.)
LINGER_S = 2.0


class _LingeringTransport:
    """The connection's transport, except that ``close()`` while the client is still sending a body lingers (see
    the module's doc). uvicorn's own code closes through it; the deadlines close the real one."""

    def __init__(self, transport: asyncio.Transport, protocol: DeadlineH11Protocol) -> None:
        self.raw = transport
        self._protocol = protocol

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)

    def close(self) -> None:
        if self._protocol.conn.their_state is h11.SEND_BODY and not self.raw.is_closing():
            self._protocol.linger()
        else:
            self.raw.close()


class Deadlines(NamedTuple):
    header_s: float
    body_s: float
    body_idle_s: float

    @classmethod
    def of(cls, settings: Settings) -> Deadlines:
        return cls(settings.header_timeout_s, settings.body_timeout_s, settings.body_idle_timeout_s)


@functools.cache
def _deadlines_from_environment() -> Deadlines:
    return Deadlines.of(Settings())


def problem_bytes(status: int, title: str, slug: str, detail: str) -> bytes:
    body = {"type": problem_type(slug), "title": title, "status": status, "detail": detail}
    return json.dumps(body).encode()


def answer_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *RAW_SECURITY_HEADERS,
    ]


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with head and body deadlines (see the module's doc). ``deadlines`` is set on a
    subclass made by :func:`protocol_for`; left None (the ``--workers`` path, which imports this class by name in
    each process), it comes from the ``SAMPLECHOP_*`` environment."""

    deadlines: ClassVar[Deadlines | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = type(self).deadlines or _deadlines_from_environment()
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_started: float | None = None
        self._body_last = 0.0
        self._lingering: asyncio.TimerHandle | None = None

    # --- uvicorn's hooks ------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_LingeringTransport(transport, self))  # type: ignore[arg-type]
        self._arm_head()

    def data_received(self, data: bytes) -> None:
        if self._lingering is not None:
            return  # the rest of a body already answered: dropped unread
        super().data_received(data)
        self._body_last = self.loop.time()
        self._follow()

    def on_response_complete(self) -> None:
        if self._lingering is not None:
            return  # closing: no keep-alive, no next request
        super().on_response_complete()
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head()
        self._cancel_body()
        if self._lingering is not None:
            self._lingering.cancel()
        super().connection_lost(exc)

    def linger(self) -> None:
        """Half-close after the answer, then drop what the client still sends for at most ``LINGER_S``."""
        raw = self._raw_transport()
        self._cancel_head()
        self._cancel_body()
        if raw.can_write_eof():
            raw.write_eof()  # after the answer is flushed: the client reads it, then the end
        raw.resume_reading()
        self._lingering = self.loop.call_later(LINGER_S, raw.close)

    def _raw_transport(self) -> asyncio.Transport:
        transport = self.transport
        return transport.raw if isinstance(transport, _LingeringTransport) else transport

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request h11 cannot parse, as a problem document with the security headers."""
        body = problem_bytes(400, "Malformed request", "malformed-http", msg)
        try:
            output = self.conn.send(h11.Response(status_code=400, headers=answer_headers(body), reason=b"Bad Request"))
            output += self.conn.send(h11.Data(data=body))
            output += self.conn.send(h11.EndOfMessage())
            self.transport.write(output)
        except h11.LocalProtocolError:
            pass
        self.transport.close()

    # --- deadlines --------------------------------------------------------------------------------------------

    def _follow(self) -> None:
        """Arm or disarm the timers for where the request now stands."""
        if self.transport.is_closing():
            self._cancel_head()
            self._cancel_body()
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            self._cancel_body()
            if self.timeout_keep_alive_task is not None:
                self._cancel_head()  # idle between requests: uvicorn's keep-alive timer runs
            elif self._head_timer is None:
                self._arm_head()  # bytes of a new head arrived: its clock starts now
        elif state is h11.SEND_BODY:
            self._cancel_head()
            if self._body_started is None:
                self._body_started = self._body_last = self.loop.time()
            self._arm_body()
        else:  # the request arrived whole (or the connection is done): the rest is the server's time
            self._cancel_head()
            self._cancel_body()

    def _arm_head(self) -> None:
        self._cancel_head()
        self._head_timer = self.loop.call_later(self.limits.header_s, self._head_expired)

    def _cancel_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _body_deadline(self) -> float:
        assert self._body_started is not None
        return min(self._body_started + self.limits.body_s, self._body_last + self.limits.body_idle_s)

    def _arm_body(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
        self._body_timer = self.loop.call_at(self._body_deadline(), self._body_expired)

    def _cancel_body(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        self._body_started = None

    def _head_expired(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        partial_head = bool(self.conn.trailing_data[0])
        if partial_head and self.conn.our_state is h11.IDLE:
            detail = f"the request head did not arrive within {self.limits.header_s:g} s"
            self._answer_408_raw(detail)
        self._close()

    def _body_expired(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self._body_started is None or self.conn.their_state is not h11.SEND_BODY:
            return
        now = self.loop.time()
        if self.flow.read_paused:
            self._body_last = now  # the app is the one not reading: the client is not idle
        if now < self._body_deadline():
            self._arm_body()
            return
        total = now >= self._body_started + self.limits.body_s
        detail = (
            f"the request body did not arrive within {self.limits.body_s:g} s"
            if total
            else f"the request body did not arrive in time (no data for {self.limits.body_idle_s:g} s)"
        )
        cycle = self.cycle
        if cycle is not None and not cycle.response_started and self.conn.our_state is h11.SEND_RESPONSE:
            # The app waits in receive(): it now gets http.disconnect, and anything it sends is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
            body = problem_bytes(408, "Request timeout", "request-timeout", detail)
            try:
                output = self.conn.send(
                    h11.Response(status_code=408, headers=answer_headers(body), reason=b"Request Timeout")
                )
                output += self.conn.send(h11.Data(data=body))
                output += self.conn.send(h11.EndOfMessage())
                self.transport.write(output)
            except h11.LocalProtocolError:
                pass
        self._close()

    def _answer_408_raw(self, detail: str) -> None:
        """A 408 before any request exists in h11's eyes (it cannot answer a head it has not parsed)."""
        body = problem_bytes(408, "Request timeout", "request-timeout", detail)
        head = b"HTTP/1.1 408 Request Timeout\r\n" + b"".join(
            name + b": " + value + b"\r\n" for name, value in answer_headers(body)
        )
        self.transport.write(head + b"\r\n" + body)

    def _close(self) -> None:
        """Close at once: a missed deadline is not worth lingering for."""
        self._cancel_head()
        self._cancel_body()
        with contextlib.suppress(h11.LocalProtocolError):
            self.conn.send(h11.ConnectionClosed())
        self._raw_transport().close()


PROTOCOL_PATH = f"{__name__}:{DeadlineH11Protocol.__name__}"


def protocol_for(settings: Settings) -> type[DeadlineH11Protocol]:
    """The protocol class with these settings' deadlines (for a server in this process)."""
    return type("BoundDeadlineH11Protocol", (DeadlineH11Protocol,), {"deadlines": Deadlines.of(settings)})


def uvicorn_options(settings: Settings, *, in_process: bool = True) -> dict[str, Any]:
    """uvicorn.Config/uvicorn.run keyword arguments that apply the settings' connection limits."""
    return {
        "http": protocol_for(settings) if in_process else PROTOCOL_PATH,
        "timeout_keep_alive": settings.keep_alive_timeout_s,
        "server_header": False,  # no need to tell the world which server and version this is
    }
