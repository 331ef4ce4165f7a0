# Test harness for mpsync-mock-server: runs it, calls its HTTP API, and speaks the long-link.
# SPDX-License-Identifier: Apache-2.0
"""Test harness for mpsync-mock-server: start/stop/restart the server, call its HTTP API, and a
minimal raw long-link client (hand-written protobuf encoding, standard library only)."""

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import unittest

READY_PREFIX = "mpsync-mock-server ready "
# The admin bearer token every MockServer is started with (--admin-token) and request() sends on
# /admin/ paths; a test that passes its own --admin-token sets MockServer.admin_token to match.
ADMIN_TOKEN = "harness-admin-token-0123456789abcdef"


def vm_rss_kb(pid):
    """Resident memory of a process, in kB (from /proc)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def build_dir_from_env_or_argv():
    """The build directory: $MPSYNC_BUILD_DIR, else the first non-option argv entry. The argv
    entry is taken off either way (ctest always passes one; scripts/cross.sh overrides it)."""
    found = None
    for arg in sys.argv[1:]:
        if not arg.startswith("-") and os.path.isdir(arg):
            sys.argv.remove(arg)
            found = arg
            break
    found = os.environ.get("MPSYNC_BUILD_DIR") or found
    if not found:
        raise RuntimeError("set MPSYNC_BUILD_DIR or pass the build directory as an argument")
    return found


class MockServer:
    """Runs bin/mpsync-mock-server on loopback with a temporary data directory."""

    def __init__(self, build_dir, biz=None, extra_args=None, data_dir=None, tls=None,
                 plain=True):
        """tls: a PKI directory from tests/tls/make_certs.sh; the server then also listens for
        TLS with server.pem/server.key. plain=False drops the plain --link listener."""
        self.binary = os.path.join(build_dir, "bin", "mpsync-mock-server")
        self.tls = tls
        self.plain = plain
        self.link_tls_port = None
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="mpsync-mock-")
        self.biz_file = None
        if biz is not None:
            self.biz_file = os.path.join(self.data_dir, "biz.json")
            with open(self.biz_file, "w", encoding="utf-8") as f:
                json.dump(biz, f)
        self.extra_args = list(extra_args or [])
        self.admin_token = ADMIN_TOKEN
        if "--admin-token" in self.extra_args:
            self.admin_token = self.extra_args[self.extra_args.index("--admin-token") + 1]
        self.proc = None
        self.http_port = None
        self.link_port = None
        self._stderr_lines = []

    # -- lifecycle --
    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if self.proc is not None:
                self.stop(check=exc_type is None)
        finally:
            self.cleanup()
        return False

    def command(self):
        cmd = [self.binary, "--http", "127.0.0.1:0", "--data", os.path.join(self.data_dir, "state")]
        if self.plain:
            cmd += ["--link", "127.0.0.1:0"]
        if self.tls:
            cmd += ["--link-tls", "127.0.0.1:0", "--cert", os.path.join(self.tls, "server.pem"),
                    "--key", os.path.join(self.tls, "server.key")]
        if self.biz_file:
            cmd += ["--biz-file", self.biz_file]
        # admin_token None: the server makes its own (a test then reads it from stderr).
        if "--admin-token" not in self.extra_args and self.admin_token is not None:
            cmd += ["--admin-token", self.admin_token]
        # A test killed with -9 (a ctest timeout) takes its server with it: stdin is our pipe.
        return cmd + ["--exit-with-stdin"] + self.extra_args

    def start(self, timeout=10.0):
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self._drainer = threading.Thread(target=self._drain_stderr, args=(self.proc,),
                                         daemon=True)
        self._drainer.start()
        line = self._read_ready(timeout)
        self.ready_fields = dict(part.split("=", 1) for part in line[len(READY_PREFIX):].split())
        port = lambda key: (int(self.ready_fields[key].rsplit(":", 1)[1])
                            if key in self.ready_fields else None)
        self.http_port = port("http")
        self.link_port = port("link")
        self.link_tls_port = port("link_tls")

    def _drain_stderr(self, proc):
        for line in proc.stderr:
            self._stderr_lines.append(line)

    def _read_ready(self, timeout):
        result = []
        reader = threading.Thread(target=lambda: result.append(self.proc.stdout.readline()),
                                  daemon=True)
        reader.start()
        reader.join(timeout)
        line = result[0] if result else ""
        if not line.startswith(READY_PREFIX):
            self.proc.kill()
            self.proc.wait()
            self._close_pipes(self.proc)
            self.proc = None
            raise RuntimeError("mock server did not become ready: %r %s"
                               % (line, "".join(self._stderr_lines)))
        return line.strip()

    def stop(self, check=True, timeout=10.0):
        """SIGTERM, wait, kill if needed; asserts a clean exit (code 0) when check is set."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        self._close_pipes(proc)
        if check:
            assert code == 0, "mock server exited with %r: %s" % (code, "".join(self._stderr_lines))
        return code

    def _close_pipes(self, proc):
        self._drainer.join(5)
        proc.stdin.close()
        proc.stdout.close()
        proc.stderr.close()

    def restart(self):
        self.stop()
        self.start()

    def kill(self):
        """SIGKILL, as a crash: nothing is flushed or closed in order."""
        proc, self.proc = self.proc, None
        proc.kill()
        proc.wait()
        self._close_pipes(proc)

    def cleanup(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self._close_pipes(self.proc)
            self.proc = None
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    @property
    def stderr_text(self):
        return "".join(self._stderr_lines)

    # -- HTTP --
    def request(self, method, path, body=None, headers=None, auth=True, timeout=10):
        """Returns (status, parsed JSON or raw text). /admin/ paths carry the bearer token unless
        auth is false or headers name their own Authorization."""
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body, ensure_ascii=False).encode("utf-8")
            elif isinstance(body, str):
                body = body.encode("utf-8")
            hdrs = {"Content-Type": "application/json"}
            if auth and path.startswith("/admin/"):
                hdrs["Authorization"] = "Bearer " + self.admin_token
            hdrs.update(headers or {})
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read().decode("utf-8")
            try:
                return resp.status, json.loads(data)
            except ValueError:
                return resp.status, data
        finally:
            conn.close()

    def push_single(self, instance, body):
        return self._push("single", instance, body)

    def push_global(self, instance, body):
        return self._push("global", instance, body)

    def _push(self, kind, instance, body):
        path = "/webapi/sync/" + kind
        if instance is not None:
            path += "?instanceId=" + instance
        return self.request("POST", path, body)

    def admin(self, path, **query):
        """POST /admin/<path>?<query>; returns the parsed JSON answer (asserting HTTP 200)."""
        from urllib.parse import urlencode
        status, body = self.request("POST", "/admin/" + path + ("?" + urlencode(query)
                                                              if query else ""))
        assert status == 200, (status, body)
        return body

    def link_client(self, **hello):
        client = LinkClient("127.0.0.1", self.link_port)
        if hello:
            client.hello(**hello)
        return client

    def tls_link_client(self, ca_file, server_name="localhost", **hello):
        """A LinkClient over TLS, verifying the server against ca_file and server_name."""
        ctx = ssl.create_default_context(cafile=ca_file)
        client = LinkClient("127.0.0.1", self.link_tls_port, ssl_context=ctx,
                            server_name=server_name)
        if hello:
            client.hello(**hello)
        return client


def free_port():
    """A loopback port free at the time of asking."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_pki():
    """A fresh test PKI (tests/tls/make_certs.sh) in a temporary directory."""
    pki = tempfile.mkdtemp(prefix="mpsync-pki-")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tls", "make_certs.sh")
    subprocess.run(["bash", script, pki], check=True, timeout=60)
    return pki


class FixedPortServer(MockServer):
    """A mock server whose link listener keeps one port across restarts."""

    def __init__(self, *args, link_port, **kw):
        super().__init__(*args, **kw)
        self.fixed_link_port = link_port

    def command(self):
        cmd = super().command()
        cmd[cmd.index("--link") + 1] = "127.0.0.1:%d" % self.fixed_link_port
        return cmd


class MockServerTest(unittest.TestCase):
    """Base of test classes that run mpsync-mock-server. The build directory is the BUILD_DIR
    global of the module that defines the test class (its __main__ block sets it from
    build_dir_from_env_or_argv()), read when a server starts, not when the class is defined."""

    @classmethod
    def build_dir(cls):
        return sys.modules[cls.__module__].BUILD_DIR

    def start_server(self, biz=None, extra_args=None, server_class=None, **kw):
        """A server of this test's own (a MockServer, or server_class given the same arguments),
        stopped (and its data removed) when the test ends."""
        server = (server_class or MockServer)(self.build_dir(), biz=biz, extra_args=extra_args,
                                              **kw)
        server.__enter__()
        self.addCleanup(server.__exit__, None, None, None)
        return server


class SharedServerTest(MockServerTest):
    """Test classes whose tests share one server, cls.server: started with the class attributes
    server_biz and server_args before the first test, stopped after the last (also when
    setUpClass fails after the start). The tests must leave it fit for the next one."""

    server_biz = None
    server_args = ()

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = MockServer(cls.build_dir(), biz=cls.server_biz,
                                extra_args=list(cls.server_args))
        cls.server.__enter__()
        cls.addClassCleanup(cls.server.__exit__, None, None, None)


# ---- a minimal protobuf codec (proto3, only the wire types mpsync.proto uses) ----

def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_int(field, value):
    return _varint(field << 3) + _varint(value) if value else b""


def pb_bytes(field, value):
    if isinstance(value, str):
        value = value.encode("utf-8")
    return _varint(field << 3 | 2) + _varint(len(value)) + value if value else b""


def pb_msg(field, encoded):
    return _varint(field << 3 | 2) + _varint(len(encoded)) + encoded


def pb_decode(data):
    """Decodes a message into {field: [int or bytes, ...]}."""
    fields, i = {}, 0
    while i < len(data):
        key, i = _read_varint(data, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(data, i)
        elif wire == 2:
            n, i = _read_varint(data, i)
            value, i = data[i:i + n], i + n
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ValueError("unsupported wire type %d" % wire)
        fields.setdefault(field, []).append(value)
    return fields


def _read_varint(data, i):
    shift = result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


STREAM_USER, STREAM_DEVICE, STREAM_GLOBAL = 1, 2, 3
ENV_HELLO, ENV_WELCOME, ENV_BATCH, ENV_ACK, ENV_PULL, ENV_PING, ENV_PONG, ENV_CLOSE = range(1, 9)
CLOSE_NORMAL, CLOSE_SERVER_SHUTDOWN, CLOSE_RETRY_LATER, CLOSE_REPLACED = 0, 5, 6, 7
CLOSE_HEARTBEAT_TIMEOUT = 8


def stream_point(kind, biz, target, point, epoch=0):
    return (pb_int(1, kind) + pb_bytes(2, biz) + pb_bytes(3, target) + pb_int(4, point) +
            pb_int(5, epoch))


def _first(fields, n, default=None):
    return fields.get(n, [default])[0]


def decode_batch(data):
    f = pb_decode(data)
    oplogs = []
    for raw in f.get(5, []):
        o = pb_decode(raw)
        oplogs.append({"id": _first(o, 1, 0), "payload": _first(o, 2, b""),
                       "binary": bool(_first(o, 3, 0)),
                       "thirdMsgId": _first(o, 4, b"").decode("utf-8"),
                       "createTime": _first(o, 5, 0), "validTimeEnd": _first(o, 6, 0)})
    return {"kind": _first(f, 1, 0), "bizType": _first(f, 2, b"").decode("utf-8"),
            "target": _first(f, 3, b"").decode("utf-8"), "epoch": _first(f, 4, 0),
            "oplogs": oplogs, "reset": bool(_first(f, 6, 0)), "lost": _first(f, 7, 0)}


def decode_close(data):
    f = pb_decode(data)
    return {"code": _first(f, 1, 0), "reason": _first(f, 2, b"").decode("utf-8"),
            "retryAfter": _first(f, 3, 0)}


class LinkClient:
    """Speaks the long-link protocol: 4-byte big-endian length + one protobuf Envelope."""

    def __init__(self, host, port, timeout=5.0, ssl_context=None, server_name=None):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if ssl_context is not None:
            try:
                self.sock = ssl_context.wrap_socket(self.sock, server_hostname=server_name)
            except BaseException:
                self.sock.close()
                raise
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def send_envelope(self, field, body):
        env = pb_msg(field, body)
        self.sock.sendall(struct.pack(">I", len(env)) + env)

    def hello(self, instance, device, user="", os_type="", app_version="", streams=(),
              version=1, session=""):
        body = (pb_int(1, version) + pb_bytes(2, instance) + pb_bytes(3, device) +
                pb_bytes(4, user) + pb_bytes(5, session) + pb_bytes(6, os_type) + pb_bytes(7, app_version) +
                pb_bytes(8, "test-1.0") +
                b"".join(pb_msg(9, stream_point(*s)) for s in streams))
        self.send_envelope(ENV_HELLO, body)
        kind, payload = self.recv()
        if kind != ENV_WELCOME:
            raise AssertionError("expected Welcome, got envelope %d %r" % (kind, payload))
        return pb_decode(payload)

    def ack(self, *points):
        self.send_envelope(ENV_ACK, b"".join(pb_msg(1, stream_point(*p)) for p in points))

    def pull_global(self, *points):
        self.send_envelope(ENV_PULL, b"".join(pb_msg(1, stream_point(*p)) for p in points))

    def recv(self, timeout=5.0):
        """Next envelope as (body field number, body bytes); (None, None) at EOF."""
        self.sock.settimeout(timeout)
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    env, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    fields = pb_decode(env)
                    field = next(iter(fields))
                    return field, fields[field][0]
            chunk = self.sock.recv(65536)
            if not chunk:
                return None, None
            self.buf += chunk

    def recv_batch(self, timeout=5.0):
        kind, body = self.recv(timeout)
        if kind != ENV_BATCH:
            raise AssertionError("expected OplogBatch, got envelope %r" % kind)
        return decode_batch(body)

    def recv_close(self, timeout=5.0):
        kind, body = self.recv(timeout)
        if kind != ENV_CLOSE:
            raise AssertionError("expected Close, got envelope %r" % kind)
        return decode_close(body)

    def recv_oplogs(self, count, timeout=5.0):
        """Collects batches until count oplogs arrived; returns them in arrival order."""
        got = []
        while len(got) < count:
            got += self.recv_batch(timeout)["oplogs"]
        return got

    def expect_silence(self, seconds=0.3):
        """True when nothing arrives within seconds."""
        try:
            self.recv(seconds)
            return False
        except socket.timeout:
            return True
