"""Faulty links for the uplink tests: an HTTP reverse proxy that fails requests at random, and a TCP relay
(for MQTT) that cuts connections at random moments. Both run an asyncio loop in a background thread and
listen on 127.0.0.1:<free port>.

    with FlakyHttpProxy(engine.url, seed=7, p_503=0.1, p_timeout=0.05, p_reset=0.1, p_lost=0.1) as link:
        uplink.upstream_url = link.url          # same path as the target: http://127.0.0.1:PORT/fhir/R4
        ...
        link.heal()                             # faults off, so the test can finish
        assert link.stats["lost"] > 0 and link.requests == sum(link.stats.values())

    with FlakyTcpProxy(broker.host, broker.port, seed=3, cut_after=(0.2, 1.5)) as link:
        client.connect(link.host, link.port)    # each connection is cut (RST both ways) 0.2-1.5 s in
        link.block()                            # new connections are reset at once (counted in .refused)
        link.heal()                             # no more cuts, no block

HTTP fault kinds (`FAULT_KINDS`), chosen per request after the whole request was read, by a seeded
random.Random in arrival order (deterministic for a sequential client):
  * "503"     answered `503 Service Unavailable` by the proxy, nothing forwarded (connection kept alive);
  * "timeout" nothing forwarded, no answer: the connection is held until the client gives up (or `hold`
              seconds, then closed without an answer);
  * "reset"   nothing forwarded, the client connection is reset (SO_LINGER 0 + close = RST);
  * "lost"    forwarded, the engine stores it and answers, the proxy reads the whole answer and then resets
              the client connection without replying: "answer lost after the engine stored the data";
  * "ok"      forwarded and answered normally.
`plan(["reset", "lost"])` forces the kinds of the next requests before the random choice resumes.
Requests: keep-alive, Content-Length and chunked bodies (httpx sends chunked for iterator/generator content;
the proxy forwards the body de-chunked with a Content-Length); responses are relayed as they come
(Content-Length, chunked or close-delimited). The upstream side is a fresh connection per request
(plain, or TLS when the target URL is https; the target's certificate is then not verified).
"""
from __future__ import annotations

import asyncio
import collections
import random
import socket
import ssl
import struct
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

FAULT_KINDS = ("503", "timeout", "reset", "lost", "ok")


def _rst(writer: asyncio.StreamWriter | None) -> None:
    """Close with a TCP RST instead of a FIN."""
    if writer is None:
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport = writer.transport
    try:
        transport.abort()  # no flush, closes the socket now: with linger 0 that is an RST
    except Exception:
        pass


class _LoopThread:
    """An asyncio event loop in a daemon thread; `call(coro)` runs a coroutine there and waits for it."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _cancel_tasks(self) -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        if self.loop.is_running():
            try:
                self.call(self._cancel_tasks(), timeout=5)
            except Exception:
                pass
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
        if not self.loop.is_running() and not self.loop.is_closed():
            self.loop.close()


class _BadRequest(Exception):
    pass


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, list[tuple[str, str]]] | None:
    """(start line, headers) of the next HTTP message, or None at a clean EOF before it."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if not e.partial.strip():
            return None
        raise _BadRequest("connection closed inside the header") from None
    except asyncio.LimitOverrunError:
        raise _BadRequest("header too large") from None
    lines = raw.decode("latin-1").split("\r\n")
    start = lines[0]
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise _BadRequest(f"bad header line {line!r}")
        headers.append((name.strip(), value.strip()))
    return start, headers


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


async def _relay_chunked(reader: asyncio.StreamReader) -> bytes:
    """The raw bytes of a chunked body, framing included."""
    out = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        out += size_line
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            while True:
                line = await reader.readuntil(b"\r\n")
                out += line
                if line == b"\r\n":
                    return bytes(out)
        out += await reader.readexactly(size + 2)


class FlakyHttpProxy:
    """HTTP/1.1 reverse proxy in front of `target` (e.g. the FHIR engine's base URL) that fails requests.

    `url` is the proxy with the target's path (use it as the upstream base URL); `origin` is without it.
    Probabilities are per request; the rest is "ok". Counters: `requests` (every request that reached the
    proxy), `stats` (a Counter per kind), `forwarded` (requests the target received), `connections`
    (client connections accepted), `log` ([(kind, method, path)])."""

    def __init__(self, target: str, *, seed: int = 0, p_503: float = 0.0, p_timeout: float = 0.0,
                 p_reset: float = 0.0, p_lost: float = 0.0, hold: float | None = None,
                 retry_after: int | None = None) -> None:
        t = urlsplit(target)
        if t.scheme not in ("http", "https"):
            raise ValueError(f"target must be an http(s) URL: {target!r}")
        self.target = target
        self.target_host = t.hostname or "127.0.0.1"
        self.target_port = t.port or (443 if t.scheme == "https" else 80)
        self.target_path = t.path.rstrip("/")
        self._target_ssl: ssl.SSLContext | None = None
        if t.scheme == "https":
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self._target_ssl = ctx
        self.rng = random.Random(seed)
        self.hold = hold
        self.retry_after = retry_after
        self._faults = (0.0, 0.0, 0.0, 0.0)
        self.set_faults(p_503=p_503, p_timeout=p_timeout, p_reset=p_reset, p_lost=p_lost)
        self._plan: collections.deque[str] = collections.deque()
        self._lock = threading.Lock()
        self.stats: collections.Counter[str] = collections.Counter()
        self.requests = 0
        self.forwarded = 0
        self.connections = 0
        self.log: list[tuple[str, str, str]] = []
        self._held: set[asyncio.StreamWriter] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._lt = _LoopThread("flaky-http")
        self._server: asyncio.base_events.Server = self._lt.call(self._start())
        self.host, self.port = self._server.sockets[0].getsockname()[:2]

    # -------------------------------------------------------------------------------- control (any thread)
    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.origin + self.target_path

    def set_faults(self, *, p_503: float | None = None, p_timeout: float | None = None,
                   p_reset: float | None = None, p_lost: float | None = None) -> None:
        """Change some probabilities (others keep their value)."""
        cur = dict(zip(("p_503", "p_timeout", "p_reset", "p_lost"), self._faults, strict=True))
        new = {"p_503": p_503, "p_timeout": p_timeout, "p_reset": p_reset, "p_lost": p_lost}
        cur.update({k: float(v) for k, v in new.items() if v is not None})
        if any(v < 0 for v in cur.values()) or sum(cur.values()) > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities must be >= 0 and sum to <= 1: {cur}")
        self._faults = (cur["p_503"], cur["p_timeout"], cur["p_reset"], cur["p_lost"])

    @property
    def faults(self) -> dict[str, float]:
        return dict(zip(("p_503", "p_timeout", "p_reset", "p_lost"), self._faults, strict=True))

    def heal(self) -> None:
        """No more faults (planned ones are dropped too); requests already held stay held."""
        with self._lock:
            self._plan.clear()
        self._faults = (0.0, 0.0, 0.0, 0.0)

    def plan(self, kinds: Iterable[str]) -> None:
        """Force the kinds of the next requests, in order, before the random choice resumes."""
        kinds = list(kinds)
        bad = [k for k in kinds if k not in FAULT_KINDS]
        if bad:
            raise ValueError(f"unknown fault kinds {bad}; known: {FAULT_KINDS}")
        with self._lock:
            self._plan.extend(kinds)

    def release_held(self) -> None:
        """Close the connections held by "timeout" faults (without an answer)."""
        self._lt.loop.call_soon_threadsafe(self._release_held)

    def close(self) -> None:
        if self._lt.loop.is_running():
            try:
                self._lt.call(self._stop(), timeout=5)
            except Exception:
                pass
        self._lt.stop()

    def __enter__(self) -> FlakyHttpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------------------------- loop side
    async def _start(self) -> asyncio.base_events.Server:
        return await asyncio.start_server(self._client, "127.0.0.1", 0, limit=1 << 20)

    async def _stop(self) -> None:
        self._server.close()
        for w in list(self._writers):
            _rst(w)
        await asyncio.sleep(0)

    def _release_held(self) -> None:
        for w in list(self._held):
            w.close()
        self._held.clear()

    def _choose(self) -> str:
        with self._lock:
            if self._plan:
                return self._plan.popleft()
            p_503, p_timeout, p_reset, p_lost = self._faults
            x = self.rng.random()  # drawn for every request: a seed gives the same sequence whatever the p's
        for kind, p in (("503", p_503), ("timeout", p_timeout), ("reset", p_reset), ("lost", p_lost)):
            if x < p:
                return kind
            x -= p
        return "ok"

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await _read_head(reader)
                except (_BadRequest, ConnectionError):
                    _rst(writer)
                    return
                if head is None:
                    return
                start, headers = head
                method, _, rest = start.partition(" ")
                path = rest.rpartition(" ")[0] or rest
                try:
                    te = (_header(headers, "transfer-encoding") or "").lower()
                    if "chunked" in te:
                        body = await _read_chunked(reader)
                    else:
                        body = await reader.readexactly(int(_header(headers, "content-length") or 0))
                except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                    _rst(writer)
                    return
                self.requests += 1
                kind = self._choose()
                self.stats[kind] += 1
                self.log.append((kind, method, path))
                conn = (_header(headers, "connection") or "").lower()
                keep_alive = conn != "close" and start.endswith("1.1")

                if kind == "503":
                    msg = (b'{"resourceType":"OperationOutcome","issue":[{"severity":"error",'
                           b'"code":"transient","diagnostics":"injected 503 (flaky link)"}]}')
                    extra = f"Retry-After: {self.retry_after}\r\n" if self.retry_after is not None else ""
                    head_503 = ("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/fhir+json\r\n"
                                f"Content-Length: {len(msg)}\r\n{extra}"
                                f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n")
                    writer.write(head_503.encode() + msg)
                    await writer.drain()
                    if not keep_alive:
                        return
                    continue
                if kind == "timeout":
                    self._held.add(writer)
                    try:
                        if self.hold is None:
                            while await reader.read(65536):  # until the client gives up (EOF/reset)
                                pass
                        else:
                            await asyncio.wait_for(reader.read(), self.hold)
                    except (TimeoutError, ConnectionError):
                        pass
                    finally:
                        self._held.discard(writer)
                    writer.close()
                    return
                if kind == "reset":
                    _rst(writer)
                    return

                # "ok" and "lost": forward
                response = await self._forward(method, path, headers, body, keep_alive)
                if kind == "lost" or response is None:
                    _rst(writer)
                    return
                raw, upstream_close = response
                writer.write(raw)
                await writer.drain()
                if not keep_alive or upstream_close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            _rst(writer)
        finally:
            self._writers.discard(writer)
            if not writer.is_closing():
                writer.close()

    async def _forward(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes,
                       keep_alive: bool) -> tuple[bytes, bool] | None:
        """Send one request to the target on a fresh connection; (raw response, close-after) or None."""
        try:
            up_r, up_w = await asyncio.open_connection(self.target_host, self.target_port,
                                                       ssl=self._target_ssl, limit=1 << 20)
        except OSError:
            return (b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", True)
        self.forwarded += 1
        try:
            skip = {"content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection"}
            lines = [f"{method} {path} HTTP/1.1"]
            lines += [f"{k}: {v}" for k, v in headers if k.lower() not in skip]
            lines += [f"Content-Length: {len(body)}"] if body or method in ("POST", "PUT", "PATCH") else []
            lines += ["Connection: close"]
            up_w.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            await up_w.drain()
            head = await _read_head(up_r)
            if head is None:
                return None
            status_line, rheaders = head
            status = int(status_line.split()[1])
            if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
                rbody = b""
            elif "chunked" in (_header(rheaders, "transfer-encoding") or "").lower():
                rbody = await _relay_chunked(up_r)
            elif (cl := _header(rheaders, "content-length")) is not None:
                rbody = await up_r.readexactly(int(cl))
            else:
                rbody = await up_r.read()  # close-delimited
                rheaders = [(k, v) for k, v in rheaders if k.lower() != "connection"]
                rheaders.append(("Connection", "close"))
                return self._render(status_line, rheaders, rbody), True
            out = [(k, v) for k, v in rheaders if k.lower() not in ("connection", "keep-alive")]
            out.append(("Connection", "keep-alive" if keep_alive else "close"))
            return self._render(status_line, out, rbody), False
        except (OSError, asyncio.IncompleteReadError, _BadRequest, ValueError, IndexError):
            return None
        finally:
            up_w.close()

    @staticmethod
    def _render(status_line: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
        head = "\r\n".join([status_line, *(f"{k}: {v}" for k, v in headers)]) + "\r\n\r\n"
        return head.encode("latin-1") + body


class FlakyTcpProxy:
    """Byte relay in front of a TCP service (mosquitto) that cuts connections at random moments.

    `cut_after=(lo, hi)`: every relayed connection is cut (RST to both sides) after a uniform random
    lo..hi seconds (seeded); None = never. `cut_all()` cuts every open connection now; `block()` makes new
    connections fail (mode "reset": accepted then reset at once, counted in `refused`; mode "refuse": the
    listener is closed, so connects get ECONNREFUSED); `stall()` holds all bytes without closing anything
    (a dead radio link: only keepalives/timeouts notice); `heal()` ends all of these.
    Counters: `connections` (accepted, including refused ones), `forwarded` (relayed to the target),
    `refused`, `cuts`, `bytes_up` (client -> target), `bytes_down`."""

    def __init__(self, target_host: str, target_port: int, *, seed: int = 0,
                 cut_after: tuple[float, float] | None = None) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.rng = random.Random(seed)
        self.cut_after = cut_after
        self.connections = 0
        self.forwarded = 0
        self.refused = 0
        self.cuts = 0
        self.bytes_up = 0
        self.bytes_down = 0
        self.blocked: str | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._flowing = asyncio.Event()  # cleared = stalled (created here, used only on the loop thread)
        self._flowing.set()
        self._timers: dict[tuple[asyncio.StreamWriter, asyncio.StreamWriter], asyncio.Future[None]] = {}
        self._lt = _LoopThread("flaky-tcp")
        self.host = "127.0.0.1"
        self._server: asyncio.base_events.Server | None = self._lt.call(self._listen(0))
        self.port: int = self._server.sockets[0].getsockname()[1]

    def set_cuts(self, cut_after: tuple[float, float] | None) -> None:
        """Cut each connection lo..hi s from now (open ones) or from its opening (new ones); None = never."""
        self.cut_after = cut_after
        self._lt.call(self._rearm())

    def cut_all(self) -> int:
        """Reset every relayed connection now; returns how many."""
        return self._lt.call(self._cut_all())

    def stall(self) -> None:
        """A dead radio link: bytes in both directions are held (not dropped, nothing is closed) until
        `unstall()`/`heal()`; connections still open (and are held too)."""
        self._lt.loop.call_soon_threadsafe(self._flowing.clear)

    def unstall(self) -> None:
        self._lt.loop.call_soon_threadsafe(self._flowing.set)

    @property
    def stalled(self) -> bool:
        return not self._flowing.is_set()

    def block(self, mode: str = "reset") -> None:
        if mode not in ("reset", "refuse"):
            raise ValueError("mode is 'reset' or 'refuse'")
        self.blocked = mode
        if mode == "refuse":
            self._lt.call(self._unlisten())

    def heal(self) -> None:
        """No more cuts (also for open connections), no block, no stall."""
        self.cut_after = None
        self.unstall()
        if self.blocked == "refuse":
            self._lt.call(self._relisten())
        self.blocked = None
        self._lt.call(self._cancel_timers())

    def close(self) -> None:
        if self._lt.loop.is_running():
            try:
                self._lt.call(self._close(), timeout=5)
            except Exception:
                pass
        self._lt.stop()

    def __enter__(self) -> FlakyTcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------------------------- loop side
    async def _listen(self, port: int) -> asyncio.base_events.Server:
        return await asyncio.start_server(self._client, self.host, port, reuse_address=True)

    async def _unlisten(self) -> None:
        if self._server:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _relisten(self) -> None:
        if self._server is None:
            for _ in range(50):
                try:
                    self._server = await self._listen(self.port)
                    return
                except OSError:
                    await asyncio.sleep(0.05)
            raise RuntimeError(f"could not listen again on {self.port}")

    async def _close(self) -> None:
        await self._unlisten()
        await self._cut_all(count=False)

    async def _cut_all(self, count: bool = True) -> int:
        pairs = list(self._pairs)
        for c, u in pairs:
            self._cut(c, u, count)
        return len(pairs)

    async def _cancel_timers(self) -> None:
        for task in self._timers.values():
            task.cancel()
        self._timers.clear()

    async def _rearm(self) -> None:
        await self._cancel_timers()
        for pair in self._pairs:
            self._arm(pair)

    def _arm(self, pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter]) -> None:
        if not self.cut_after:
            return
        delay = self.rng.uniform(*self.cut_after)

        async def cut_later() -> None:
            await asyncio.sleep(delay)
            self._timers.pop(pair, None)
            self._cut(*pair)

        self._timers[pair] = asyncio.ensure_future(cut_later())

    def _cut(self, client_w: asyncio.StreamWriter, up_w: asyncio.StreamWriter, count: bool = True) -> None:
        if (client_w, up_w) in self._pairs:
            self._pairs.discard((client_w, up_w))
            if count:
                self.cuts += 1
        _rst(client_w)
        _rst(up_w)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.blocked:
            self.refused += 1
            _rst(writer)
            return
        try:
            up_r, up_w = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            _rst(writer)  # target down: the client sees a reset, as from a dead broker's host
            return
        self.forwarded += 1
        pair = (writer, up_w)
        self._pairs.add(pair)
        self._arm(pair)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, up: bool) -> None:
            try:
                while data := await src.read(65536):
                    await self._flowing.wait()
                    if up:
                        self.bytes_up += len(data)
                    else:
                        self.bytes_down += len(data)
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                if pair in self._pairs:  # one side ended normally: pass the FIN on
                    try:
                        if dst.can_write_eof():
                            dst.write_eof()
                    except (OSError, RuntimeError):
                        pass

        try:
            await asyncio.gather(pump(reader, up_w, True), pump(up_r, writer, False))
        finally:
            timer = self._timers.pop(pair, None)
            if timer:
                timer.cancel()
            self._pairs.discard(pair)
            for w in (writer, up_w):
                if not w.is_closing():
                    w.close()

