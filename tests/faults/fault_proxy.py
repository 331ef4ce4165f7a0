# Fault-injection TCP proxy (asyncio, stdlib) between a long-link client and the mock server.
# SPDX-License-Identifier: Apache-2.0
"""A TCP proxy on 127.0.0.1 that forwards a client's connections to a target and, when told so at
run time, misbehaves the way mobile networks and broken middleboxes do:

- delay      every chunk waits N seconds before it is forwarded (per direction)
- drop       one direction stops forwarding (bytes are read and thrown away; sockets stay open)
- blackhole  both directions stop forwarding; sockets stay open (a silent dead peer)
- cut        the connection is closed after N more bytes in one direction, or in the middle of the
             next length-prefixed frame of at least M bytes (a frame cut in two)
- reset      both sockets are closed with an RST (SO_LINGER 0)
- inject     bytes are slipped into one direction at the next frame boundary: garbage, or a
             4-byte big-endian length prefix above the 1 MiB frame limit

Faults apply to the connections open when they are switched on; connections made later are clean
unless `sticky=True` was given (then `clear()` ends them). The proxy runs its own event loop in a
thread; every public method is called from the test thread and returns once the fault is in place.
Optionally it records every byte each side sent (`record=True`), e.g. to prove that no TLS
application data left a client whose handshake was refused.

Run it by hand: python3 fault_proxy.py TARGET_PORT [LISTEN_PORT], then type commands on stdin
(`delay 1.5 [c2s|s2c|both] [sticky]`, `drop s2c`, `blackhole`, `cut 10`, `cutframe s2c 64`,
`reset`, `garbage`, `oversize`, `clear`, `quit`).
"""

import asyncio
import concurrent.futures
import socket
import struct
import sys
import threading
import time

C2S = "c2s"  # client -> server
S2C = "s2c"  # server -> client
BOTH = (C2S, S2C)
MAX_FRAME = 1 << 20
FRAME_HEADER = 4

# Bytes that are no valid frame: a 9-byte frame whose body is an unterminated protobuf varint.
GARBAGE = struct.pack(">I", 9) + b"\xff" * 9


def oversize_prefix(length=MAX_FRAME + 1):
    """A length prefix above the 1 MiB frame limit, with a few bytes of 'body' behind it."""
    return struct.pack(">I", length) + b"\x00" * 16


def _directions(direction):
    return BOTH if direction in (None, "both") else (direction,)


class _Direction:
    """One direction of one proxied connection: reads from `reader`, forwards to `writer`."""

    def __init__(self, conn, name, reader, writer, record):
        self.conn = conn
        self.name = name
        self.reader = reader
        self.writer = writer
        self.queue = asyncio.Queue()
        self.delay = 0.0
        self.dropping = False
        self.cut_after = None       # bytes still to forward before the connection is cut
        self.cut_frame_min = None   # cut in the middle of the next frame this large or larger
        self.injects = []           # bytes waiting for the next frame boundary
        self.header = bytearray()   # frame tracking (plaintext protocol only)
        self.body_left = 0
        self.received = 0
        self.forwarded = 0
        self.recorded = bytearray() if record else None

    # -- frame tracking: where the length-prefixed frames of this direction begin and end --
    def at_boundary(self):
        return not self.header and self.body_left == 0

    def _piece_len(self, n):
        """How much of n bytes belongs to the current header or body."""
        if self.body_left:
            return min(n, self.body_left)
        return min(n, FRAME_HEADER - len(self.header))

    def _advance(self, piece):
        if self.body_left:
            self.body_left -= len(piece)
            return
        self.header += piece
        if len(self.header) < FRAME_HEADER:
            return
        length = struct.unpack(">I", bytes(self.header))[0]
        self.header.clear()
        self.body_left = length
        if self.cut_frame_min is not None and length >= self.cut_frame_min and length >= 2:
            # The header went out; half of the body follows, then the connection goes.
            self.cut_frame_min = None
            self.cut_after = length // 2

    # -- the two loops --
    async def read_loop(self):
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                self.received += len(data)
                if self.recorded is not None:
                    self.recorded += data
                self.queue.put_nowait(("data", loop.time() + self.delay, data))
        except (ConnectionError, OSError):
            pass
        self.queue.put_nowait(None)

    async def write_loop(self):
        loop = asyncio.get_running_loop()
        try:
            while True:
                item = await self.queue.get()
                if item is None:
                    break
                if item[0] == "inject":
                    self.injects.append(item[1])
                    if self.at_boundary():
                        await self._flush_injects()
                    continue
                _, due, data = item
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not await self._forward(data):
                    return
        except (ConnectionError, OSError):
            pass
        if self.dropping:
            # A dead path carries no FIN or RST either: the other side keeps its socket open.
            return
        await self.conn.close("%s ended" % self.name)

    async def _write(self, data):
        self.writer.write(data)
        await self.writer.drain()
        self.forwarded += len(data)

    async def _flush_injects(self):
        data = b"".join(self.injects)
        self.injects.clear()
        self.writer.write(data)
        await self.writer.drain()

    async def _forward(self, data):
        """Forwards one chunk under the current faults; False once the connection is gone."""
        if self.dropping or self.conn.closed:
            return not self.conn.closed
        while data:
            if self.injects and self.at_boundary():
                await self._flush_injects()
            n = self._piece_len(len(data))
            if self.cut_after is not None:
                n = min(n, self.cut_after)
            piece, data = data[:n], data[n:]
            await self._write(piece)
            if self.cut_after is not None:
                self.cut_after -= len(piece)
                if self.cut_after <= 0:
                    await self.conn.close("cut in %s" % self.name)
                    return False
            self._advance(piece)
        if self.injects and self.at_boundary():
            await self._flush_injects()
        return True


class _Connection:
    def __init__(self, proxy, client_reader, client_writer):
        self.proxy = proxy
        self.client_writer = client_writer
        self.client_reader = client_reader
        self.server_writer = None
        self.closed = False
        self.why = None
        self.tasks = []
        self.dirs = {}

    async def run(self, target, record, faults):
        try:
            sr, sw = await asyncio.open_connection(*target)
        except OSError:
            self.closed = True
            self.client_writer.transport.abort()
            return
        self.server_writer = sw
        self.dirs[C2S] = _Direction(self, C2S, self.client_reader, sw, record)
        self.dirs[S2C] = _Direction(self, S2C, sr, self.client_writer, record)
        for name, d in self.dirs.items():
            d.delay = faults["delay"][name]
            d.dropping = faults["drop"][name]
        for d in self.dirs.values():
            self.tasks.append(asyncio.ensure_future(d.read_loop()))
            self.tasks.append(asyncio.ensure_future(d.write_loop()))

    def _writers(self):
        return [w for w in (self.client_writer, self.server_writer) if w is not None]

    async def close(self, why):
        if self.closed:
            return
        self.closed = True
        self.why = why
        for w in self._writers():
            w.close()
        self._cancel_others()

    def reset(self):
        """Both sockets go with an RST: SO_LINGER on, timeout 0, then an abortive close."""
        if self.closed:
            return
        self.closed = True
        self.why = "reset"
        for w in self._writers():
            sock = w.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            w.transport.abort()
        self._cancel_others()

    def _cancel_others(self):
        me = asyncio.current_task()
        for t in self.tasks:
            if t is not me and not t.done():
                t.cancel()


class FaultProxy:
    """Listens on listen_host:listen_port (0 = a free port), forwards to target_host:target_port."""

    def __init__(self, target_port, target_host="127.0.0.1", listen_host="127.0.0.1",
                 listen_port=0, record=False):
        self.target = (target_host, target_port)
        self.listen = (listen_host, listen_port)
        self.record = record
        self.port = None
        self.accepted = 0
        self.connections = []
        self._loop = None
        self._thread = None
        self._server = None
        self._accept_cond = threading.Condition()
        # What a new connection starts with (sticky faults).
        self._new = {"delay": {C2S: 0.0, S2C: 0.0}, "drop": {C2S: False, S2C: False}}

    # -- lifecycle --
    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        ready = concurrent.futures.Future()
        self._loop = asyncio.new_event_loop()

        def main():
            asyncio.set_event_loop(self._loop)
            try:
                self._server = self._loop.run_until_complete(
                    asyncio.start_server(self._on_client, *self.listen))
                self.port = self._server.sockets[0].getsockname()[1]
                ready.set_result(True)
            except BaseException as e:  # noqa: BLE001 - handed to the starting thread
                ready.set_exception(e)
                return
            self._loop.run_forever()

        self._thread = threading.Thread(target=main, name="fault-proxy", daemon=True)
        self._thread.start()
        ready.result(10)
        return self

    def stop(self):
        if not self._loop or not self._thread:
            return

        async def shutdown():
            self._server.close()
            for c in self.connections:
                await c.close("proxy stopped")
            tasks = [t for c in self.connections for t in c.tasks if not t.done()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
            self._thread = None

    async def _on_client(self, reader, writer):
        conn = _Connection(self, reader, writer)
        self.connections.append(conn)
        await conn.run(self.target, self.record,
                       {k: dict(v) for k, v in self._new.items()})
        with self._accept_cond:
            self.accepted += 1
            self._accept_cond.notify_all()

    def _do(self, fn):
        """Runs fn() on the proxy's loop (a coroutine function or a plain one) and waits."""
        async def wrapper():
            r = fn()
            if asyncio.iscoroutine(r):
                r = await r
            return r
        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(10)

    def _open(self):
        return [c for c in self.connections if not c.closed and c.dirs]

    # -- introspection --
    def open_count(self):
        return self._do(lambda: len(self._open()))

    def wait_accepted(self, n, timeout=10.0):
        """Waits until n connections in all were accepted and connected upstream."""
        deadline = time.monotonic() + timeout
        with self._accept_cond:
            while self.accepted < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("proxy accepted %d of %d connections" % (self.accepted, n))
                self._accept_cond.wait(left)

    def sent(self, direction):
        """Everything sent in `direction`, one bytes object per connection (needs record=True)."""
        return self._do(lambda: [bytes(c.dirs[direction].recorded) for c in self.connections
                                 if c.dirs and c.dirs[direction].recorded is not None])

    # -- faults --
    def delay(self, seconds, direction="both", sticky=False):
        """Each chunk read from now on waits `seconds` before it is forwarded."""
        def apply():
            for c in self._open():
                for d in _directions(direction):
                    c.dirs[d].delay = seconds
            if sticky:
                for d in _directions(direction):
                    self._new["delay"][d] = seconds
        self._do(apply)

    def drop(self, direction, sticky=False):
        """Stops forwarding `direction` (C2S or S2C); bytes are read and discarded."""
        def apply():
            for c in self._open():
                for d in _directions(direction):
                    c.dirs[d].dropping = True
            if sticky:
                for d in _directions(direction):
                    self._new["drop"][d] = True
        self._do(apply)

    def blackhole(self, sticky=False):
        """Accepts and discards everything in both directions; the sockets stay open."""
        self.drop("both", sticky)

    def cut_after(self, nbytes, direction=S2C):
        """Closes each open connection after `nbytes` more bytes were forwarded in `direction`."""
        def apply():
            for c in self._open():
                c.dirs[direction].cut_after = nbytes
        self._do(apply)

    def cut_mid_frame(self, direction=S2C, min_frame=64):
        """Closes each open connection half-way through the body of the next frame in
        `direction` whose length prefix is at least `min_frame` (plaintext links only)."""
        def apply():
            for c in self._open():
                c.dirs[direction].cut_frame_min = min_frame
        self._do(apply)

    def reset(self):
        """Closes every open connection with an RST on both sides; returns how many."""
        def apply():
            conns = self._open()
            for c in conns:
                c.reset()
            return len(conns)
        return self._do(apply)

    def inject(self, data, direction=S2C):
        """Slips `data` into `direction` of each open connection at its next frame boundary
        (after whatever is already queued there)."""
        def apply():
            for c in self._open():
                c.dirs[direction].queue.put_nowait(("inject", bytes(data)))
        self._do(apply)

    def inject_garbage(self, direction=S2C):
        self.inject(GARBAGE, direction)

    def inject_oversize(self, length=MAX_FRAME + 1, direction=S2C):
        self.inject(oversize_prefix(length), direction)

    def clear(self):
        """Ends every fault, on the open connections and for new ones. Bytes already dropped
        stay dropped; delayed ones still wait out their delay."""
        def apply():
            for c in self._open():
                for d in c.dirs.values():
                    d.delay = 0.0
                    d.dropping = False
                    d.cut_after = None
                    d.cut_frame_min = None
            self._new = {"delay": {C2S: 0.0, S2C: 0.0}, "drop": {C2S: False, S2C: False}}
        self._do(apply)


def _main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    proxy = FaultProxy(int(argv[1]), listen_port=int(argv[2]) if len(argv) > 2 else 0).start()
    print("fault proxy on 127.0.0.1:%d -> 127.0.0.1:%s" % (proxy.port, argv[1]), flush=True)
    try:
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            cmd, args = words[0], words[1:]
            if cmd == "quit":
                break
            elif cmd == "delay":
                # "sticky" also delays later connections; "ok" tells a driving program (the
                # benchmark) that the delay is in place before it connects.
                proxy.delay(float(args[0]), args[1] if len(args) > 1 else "both",
                            sticky="sticky" in args[2:])
                print("ok", flush=True)
            elif cmd == "drop":
                proxy.drop(args[0])
            elif cmd == "blackhole":
                proxy.blackhole()
            elif cmd == "cut":
                proxy.cut_after(int(args[0]), args[1] if len(args) > 1 else S2C)
            elif cmd == "cutframe":
                proxy.cut_mid_frame(args[0] if args else S2C, int(args[1]) if len(args) > 1 else 64)
            elif cmd == "reset":
                print("reset %d" % proxy.reset(), flush=True)
            elif cmd == "garbage":
                proxy.inject_garbage()
            elif cmd == "oversize":
                proxy.inject_oversize()
            elif cmd == "clear":
                proxy.clear()
            else:
                print("unknown command %s" % cmd, flush=True)
    finally:
        proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
