# End-to-end tests of the mock server's operator side: admin token, command line, signed pushes, S9.
# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of what the people who run the service use (issue 16): the admin API's bearer
token, the command line (getopt_long), signed pushes (guide §6.8) and user consistency (S9, guide
§5.4). The web console is tested elsewhere."""

import base64
import hashlib
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import json
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpsync_harness import (ENV_BATCH, MockServer, MockServerTest,  # noqa: E402
                            build_dir_from_env_or_argv, decode_batch, free_port)

BUILD_DIR = None
INSTANCE = "ws_OPS"

BIZ = [
    {"bizType": "UCHAT", "dimension": "user"},
    {"bizType": "DEVCFG", "dimension": "device"},
    {"bizType": "GCONF", "scope": "global"},
]

# Every route admin.c handles, with a body where it takes one: each must refuse without the token.
ADMIN_CALLS = [
    ("GET", "/admin/biz?instanceId=" + INSTANCE, None),
    ("POST", "/admin/biz?instanceId=" + INSTANCE, {"bizType": "NEW-ONE"}),
    ("GET", "/admin/biz/UCHAT?instanceId=" + INSTANCE, None),
    ("PUT", "/admin/biz/UCHAT", {"persistent": False}),
    ("DELETE", "/admin/biz/DEVCFG", None),
    ("POST", "/admin/biz/UCHAT/offline", None),
    ("POST", "/admin/biz/UCHAT/online", None),
    ("POST", "/admin/links/close?instanceId=" + INSTANCE, None),
    ("POST", "/admin/stream/reset?instanceId=%s&bizType=UCHAT&target=u1" % INSTANCE, None),
    ("POST", "/admin/retention/run?olderThanMs=0", None),
    ("POST", "/admin/push/bulk?instanceId=" + INSTANCE,
     {"bizType": "UCHAT", "linkToken": "u1", "thirdMsgId": "bulk", "payload": "x", "count": 3}),
    ("GET", "/admin/status?instanceId=%s&userId=u1" % INSTANCE, None),
    ("GET", "/admin/records", None),
    ("GET", "/admin/signature", None),
    ("POST", "/admin/signature", {"enabled": True}),
    ("GET", "/admin/validator?instanceId=" + INSTANCE, None),
    ("POST", "/admin/validator?instanceId=" + INSTANCE, {"url": "http://127.0.0.1:9/"}),
    ("GET", "/admin/no-such-route", None),
]

# Reads that show every change an admin call can make.
SNAPSHOT_PATHS = ["/admin/biz", "/admin/records?instanceId=" + INSTANCE,
                  "/admin/status?instanceId=%s&userId=u1" % INSTANCE, "/admin/signature",
                  "/admin/validator?instanceId=" + INSTANCE]

UNAUTHORIZED = {"success": False, "msg": "UNAUTHORIZED"}


class AdminToken(unittest.TestCase):
    def snapshot(self, server):
        """What an unauthorised call could change, read with the token."""
        state = {}
        for path in SNAPSHOT_PATHS:
            status, body = server.request("GET", path)
            self.assertEqual(status, 200, (path, body))
            state[path] = body
        return state

    def test_every_admin_path_without_or_with_a_wrong_token_is_401_and_changes_nothing(self):
        with MockServer(BUILD_DIR, biz=BIZ) as server:
            # Something for retention, stream resets and records to act on.
            self.assertEqual(server.push_single(INSTANCE, {
                "bizType": "UCHAT", "linkToken": "u1", "thirdMsgId": "kept", "payload": "p"})[1]
                ["msg"], "NOT_ONLINE")
            with server.link_client(instance=INSTANCE, device="dev-auth", user="u1") as link:
                self.assertEqual([o["thirdMsgId"] for o in link.recv_oplogs(1)], ["kept"])
                before = self.snapshot(server)
                token = server.admin_token
                wrong = [None, "", "Bearer", "Bearer ", "Bearer " + token[:-1],
                         "Bearer " + token + "x", "Basic " + token, token,
                         "Bearer " + token[:-1] + chr(ord(token[-1]) ^ 1)]
                for method, path, body in ADMIN_CALLS:
                    for auth in wrong:
                        headers = {} if auth is None else {"Authorization": auth}
                        status, answer = server.request(method, path, body, headers=headers,
                                                        auth=False)
                        self.assertEqual((status, answer), (401, UNAUTHORIZED),
                                         (method, path, auth))
                self.assertEqual(self.snapshot(server), before)
                # The link the refused links/close named is still open and served.
                self.assertEqual(server.push_single(INSTANCE, {
                    "bizType": "UCHAT", "linkToken": "u1", "thirdMsgId": "after",
                    "payload": "p"})[1]["msg"], "SUCCESS")
                self.assertEqual([o["thirdMsgId"] for o in link.recv_oplogs(1)], ["after"])
            # The scheme name is case-insensitive; the token is not.
            self.assertEqual(server.request("GET", "/admin/biz", headers={
                "Authorization": "bearer " + token}, auth=False)[0], 200)
            self.assertEqual(server.request("GET", "/admin/biz", headers={
                "Authorization": "Bearer " + token.upper()}, auth=False)[0], 401)

    def test_generated_token_printed_once_and_written_0600(self):
        server = MockServer(BUILD_DIR, biz=BIZ)
        server.admin_token = None
        with server:
            lines = [l for l in server.stderr_text.splitlines() if "admin token" in l]
            self.assertEqual(len(lines), 1, server.stderr_text)
            m = re.fullmatch(r"mpsync-mock-server: admin token ([0-9a-f]{32})", lines[0])
            self.assertIsNotNone(m, lines[0])
            token = m.group(1)
            path = os.path.join(server.data_dir, "state", "admin-token")
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
            with open(path) as f:
                self.assertEqual(f.read().strip(), token)
            self.assertEqual(server.request("GET", "/admin/biz", auth=False)[0], 401)
            server.admin_token = token
            self.assertEqual(server.request("GET", "/admin/biz")[0], 200)
        # A second start makes a different token.
        again = MockServer(BUILD_DIR, biz=BIZ)
        again.admin_token = None
        with again:
            other = re.search(r"admin token ([0-9a-f]{32})", again.stderr_text).group(1)
        self.assertNotEqual(other, token)


def canonical(method, path, query, timestamp, body):
    """The string a push's signature covers (docs/ADMIN.md), written from the document."""
    parts = sorted((p for p in query.split("&") if p), key=lambda p: (p.split("=", 1)[0], p))
    return "\n".join([method, path, "&".join(parts), timestamp,
                      hashlib.sha256(body).hexdigest()]).encode("utf-8")


class SignedPushes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(prefix="mpsync-sig-")
        for name in ("tenant", "other"):
            key = os.path.join(cls.pki, name + ".key")
            subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                            "rsa_keygen_bits:2048", "-out", key], check=True,
                           capture_output=True)
            subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out",
                            os.path.join(cls.pki, name + ".pub")], check=True, capture_output=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, ignore_errors=True)

    def public_key(self, name="tenant"):
        with open(os.path.join(self.pki, name + ".pub")) as f:
            return f.read()

    def sign(self, text, key="tenant"):
        """RSA-SHA256 PKCS#1 v1.5 by openssl itself, base64."""
        r = subprocess.run(["openssl", "dgst", "-sha256", "-sign",
                            os.path.join(self.pki, key + ".key")],
                           input=text, capture_output=True, check=True)
        return base64.b64encode(r.stdout).decode("ascii")

    def signed_push(self, server, body, kind="single", query=None, key="tenant", ts_ms=None,
                    tamper=None):
        query = query if query is not None else "instanceId=" + INSTANCE
        path = "/webapi/sync/" + kind
        raw = json.dumps(body).encode("utf-8")
        ts = str(ts_ms if ts_ms is not None else int(time.time() * 1000))
        sig = self.sign(canonical("POST", path, query, ts, raw), key)
        if tamper:
            raw = tamper(raw)
        return server.request("POST", path + "?" + query, raw, headers={
            "X-Mpsync-Timestamp": ts, "X-Mpsync-Signature": sig})

    def pushes(self, server, user):
        status, body = server.request("GET", "/admin/status?instanceId=%s&userId=%s"
                                      % (INSTANCE, user))
        self.assertEqual(status, 200, body)
        return body["data"]["pushes"]

    def actions(self, server):
        status, body = server.request("GET", "/admin/records")
        return [r["action"] for r in body["data"]]

    def test_signature_switch_contract_and_records(self):
        with MockServer(BUILD_DIR, biz=BIZ) as server:
            off = {"success": True, "msg": "SUCCESS", "data": {"enabled": False, "publicKey": ""}}
            self.assertEqual(server.request("GET", "/admin/signature"), (200, off))
            for bad in ({"publicKey": "not a key"}, {"enabled": True}, {"enabled": "yes"},
                        {"publicKey": 5},
                        {"publicKey": self.public_key().replace("A", "B", 5)}):
                status, answer = server.request("POST", "/admin/signature", bad)
                self.assertEqual((status, answer["success"], answer["msg"]),
                                 (400, False, "ARGS_ERROR"), bad)
            self.assertEqual(server.request("GET", "/admin/signature"), (200, off))
            status, answer = server.request("POST", "/admin/signature?operator=ops1", {
                "enabled": True, "publicKey": self.public_key()})
            on = {"success": True, "msg": "SUCCESS",
                  "data": {"enabled": True, "publicKey": self.public_key()}}
            self.assertEqual((status, answer), (200, on))
            self.assertEqual(server.request("GET", "/admin/signature"), (200, on))
            # The key alone may change; the switch stays.
            status, answer = server.request("POST", "/admin/signature",
                                            {"publicKey": self.public_key("other")})
            self.assertEqual(answer["data"], {"enabled": True,
                                              "publicKey": self.public_key("other")})
            server.request("POST", "/admin/signature", {"enabled": False})
            self.assertEqual(self.actions(server)[:2], ["关闭签名", "开启签名"])
            status, body = server.request("GET", "/admin/records?operator=ops1")
            self.assertEqual([r["action"] for r in body["data"]], ["开启签名"])
            # Kept across a restart: signatures are not silently off after one.
            server.request("POST", "/admin/signature", {"enabled": True})
            server.restart()
            self.assertEqual(server.request("GET", "/admin/signature")[1]["data"]["enabled"],
                             True)
            self.assertEqual(server.push_single(INSTANCE, {
                "bizType": "UCHAT", "linkToken": "u1", "thirdMsgId": "r", "payload": "p"}),
                (200, {"success": False, "msg": "SIGNATURE_MISSING"}))

    def test_unsigned_wrong_stale_replayed_refused_and_nothing_stored(self):
        with MockServer(BUILD_DIR, biz=BIZ) as server:
            self.assertEqual(server.request("POST", "/admin/signature", {
                "enabled": True, "publicKey": self.public_key()})[0], 200)
            body = {"bizType": "UCHAT", "linkToken": "u-sig", "thirdMsgId": "m1", "payload": "p"}
            refused = lambda code: (200, {"success": False, "msg": code})
            self.assertEqual(server.push_single(INSTANCE, body), refused("SIGNATURE_MISSING"))
            # A timestamp without a signature, and the reverse, are both missing one.
            ts = str(int(time.time() * 1000))
            self.assertEqual(server.request("POST", "/webapi/sync/single?instanceId=" + INSTANCE,
                                            body, headers={"X-Mpsync-Timestamp": ts}),
                             refused("SIGNATURE_MISSING"))
            self.assertEqual(self.signed_push(server, body, key="other"),
                             refused("SIGNATURE_INVALID"))
            self.assertEqual(self.signed_push(server, body, tamper=lambda b: b.replace(
                b'"p"', b'"q"')), refused("SIGNATURE_INVALID"))
            # Signed over one instance, sent to another.
            self.assertEqual(server.request("POST", "/webapi/sync/single?instanceId=ws_OTHER",
                                            body, headers={
                "X-Mpsync-Timestamp": ts, "X-Mpsync-Signature": self.sign(canonical(
                    "POST", "/webapi/sync/single", "instanceId=" + INSTANCE, ts,
                    json.dumps(body).encode()))}), refused("SIGNATURE_INVALID"))
            self.assertEqual(server.request("POST", "/webapi/sync/single?instanceId=" + INSTANCE,
                                            body, headers={"X-Mpsync-Timestamp": ts,
                                                           "X-Mpsync-Signature": "%%%"}),
                             refused("SIGNATURE_INVALID"))
            stale = int(time.time() * 1000) - 6 * 60 * 1000
            self.assertEqual(self.signed_push(server, body, ts_ms=stale),
                             refused("SIGNATURE_EXPIRED"))
            ahead = int(time.time() * 1000) + 6 * 60 * 1000
            self.assertEqual(self.signed_push(server, body, ts_ms=ahead),
                             refused("SIGNATURE_EXPIRED"))
            self.assertEqual(self.pushes(server, "u-sig"), 0)
            # Correctly signed: accepted, stored (m1 was never claimed by a refused push).
            ts_ms = int(time.time() * 1000)
            first = self.signed_push(server, body, ts_ms=ts_ms)
            self.assertEqual(first, (200, {"success": True, "msg": "NOT_ONLINE"}))
            self.assertEqual(self.pushes(server, "u-sig"), 1)
            # The same request again, byte for byte: a replay.
            path = "/webapi/sync/single?instanceId=" + INSTANCE
            raw = json.dumps(body).encode("utf-8")
            sig = self.sign(canonical("POST", "/webapi/sync/single", "instanceId=" + INSTANCE,
                                      str(ts_ms), raw))
            self.assertEqual(server.request("POST", path, raw, headers={
                "X-Mpsync-Timestamp": str(ts_ms), "X-Mpsync-Signature": sig}),
                refused("SIGNATURE_REPLAYED"))
            self.assertEqual(self.pushes(server, "u-sig"), 1)
            # The query is signed sorted by name, whatever order it is sent in.
            body2 = dict(body, thirdMsgId="m2")
            self.assertEqual(self.signed_push(server, body2,
                                              query="zeta=1&instanceId=%s&alpha=2" % INSTANCE),
                             (200, {"success": True, "msg": "NOT_ONLINE"}))
            # Global pushes are signed the same way.
            self.assertEqual(self.signed_push(server, {
                "bizType": "GCONF", "thirdMsgId": "g1", "payload": "p"}, kind="global"),
                (200, {"success": True, "msg": "SUCCESS"}))
            self.assertEqual(server.push_global(INSTANCE, {
                "bizType": "GCONF", "thirdMsgId": "g2", "payload": "p"}),
                refused("SIGNATURE_MISSING"))

    def test_java_sample_requests_work_with_signatures_off(self):
        # The seed's SingleTest/GlobalTest (guide §5.2/§5.3) send no signature headers.
        headers = {"Content-Type": "application/json", "Content-Encoding": "UTF-8"}
        with MockServer(BUILD_DIR, biz=BIZ) as server:
            single = {"bizType": "UCHAT", "linkToken": "2088102147396225",
                      "thirdMsgId": "1234567", "payload": "{\"name\":\"李四\",\"age\":\"30\"}",
                      "validTimeEnd": "1737043200000", "osType": "android",
                      "appMinVersion": "10.1.68", "appMaxVersion": "10.1.70"}
            self.assertEqual(server.request("POST", "/webapi/sync/single?instanceId=" + INSTANCE,
                                            single, headers=headers),
                             (200, {"success": True, "msg": "NOT_ONLINE"}))
            glob = {"bizType": "GCONF", "thirdMsgId": "1234568", "payload": "cfg"}
            self.assertEqual(server.request("POST", "/webapi/sync/global?instanceId=" + INSTANCE,
                                            glob, headers=headers),
                             (200, {"success": True, "msg": "SUCCESS"}))
            # Signatures on and off again: the same unsigned requests work again.
            server.request("POST", "/admin/signature", {"enabled": True,
                                                        "publicKey": self.public_key()})
            server.request("POST", "/admin/signature", {"enabled": False})
            self.assertEqual(server.request("POST", "/webapi/sync/single?instanceId=" + INSTANCE,
                                            dict(single, thirdMsgId="1234569"), headers=headers),
                             (200, {"success": True, "msg": "NOT_ONLINE"}))


STUB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "mock_server",
                    "validator_stub.py")
S9_BIZ = [{"bizType": "PAY", "dimension": "user", "userConsistency": True},
          {"bizType": "CHAT", "dimension": "user"}]
EVERYTHING = {("PAY", "p1"), ("CHAT", "c1"), ("PAY", "p2"), ("CHAT", "c2")}
NOT_PAY = {("CHAT", "c1"), ("CHAT", "c2")}


def collect(link, seconds):
    """(bizType, thirdMsgId) of every oplog that arrives within seconds."""
    got = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            kind, body = link.recv(max(0.05, end - time.monotonic()))
        except socket.timeout:
            break
        if kind is None:
            break
        if kind == ENV_BATCH:
            batch = decode_batch(body)
            got += [(batch["bizType"], o["thirdMsgId"]) for o in batch["oplogs"]]
    return got


class UserConsistency(MockServerTest):
    """S9: a userConsistency biz reaches a link only when the tenant's validator said its user's
    session is valid; the other bizTypes are not affected, and nothing waits on the validator."""

    def stub(self, *args):
        proc = subprocess.Popen([sys.executable, STUB] + list(args), stdout=subprocess.PIPE,
                                text=True)
        self.addCleanup(lambda: (proc.kill(), proc.wait(), proc.stdout.close()))
        line = proc.stdout.readline()
        self.assertTrue(line.startswith("validator-stub ready port="), line)
        return "http://127.0.0.1:%d/validate" % int(line.split("=")[1])

    def server(self, url, timeout_ms=1000):
        args = ["--validate-timeout", str(timeout_ms)]
        if url:
            args += ["--validate-url", url]
        return self.start_server(biz=S9_BIZ, extra_args=args)

    def push(self, server, biz, third, user="u9"):
        status, body = server.push_single(INSTANCE, {"bizType": biz, "linkToken": user,
                                                     "thirdMsgId": third, "payload": "x"})
        self.assertEqual(status, 200, body)
        self.assertTrue(body["success"], body)

    def deliveries(self, server, session, device="dev-s9", wait=2.5):
        """Stored pushes, a Hello with session, then live pushes: what reached the link."""
        self.push(server, "PAY", "p1")
        self.push(server, "CHAT", "c1")
        with server.link_client() as link:
            link.hello(instance=INSTANCE, device=device, user="u9", session=session)
            got = collect(link, wait)
            self.push(server, "PAY", "p2")
            self.push(server, "CHAT", "c2")
            got += collect(link, 1.0)
        return set(got)

    def test_s9_forged_session_gets_nothing_of_it_then_a_valid_one_gets_it_all(self):
        url = self.stub("--valid-sessions", "GOOD-SESSION")
        server = self.server(url)
        self.assertEqual(self.deliveries(server, "FORGED-TOKEN"), NOT_PAY)
        # Held, not lost: a new Hello with a good session brings what was stored.
        with server.link_client() as link:
            link.hello(instance=INSTANCE, device="dev-s9", user="u9", session="GOOD-SESSION")
            got = set(collect(link, 2.5))
        self.assertEqual({g for g in got if g[0] == "PAY"}, {("PAY", "p1"), ("PAY", "p2")})
        # The request form of guide §5.4.
        with urllib.request.urlopen(url.replace("/validate", "/requests"), timeout=5) as r:
            seen = json.loads(r.read())
        self.assertEqual(seen[0]["headers"], {"Operation-Type": "com.antcloud.session.validate",
                                              "Content-Type": "application/json"})
        self.assertEqual(seen[0]["body"], {
            "operationType": "com.antcloud.session.validate",
            "requestData": [{"instanceId": INSTANCE, "userId": "u9",
                             "sessionId": "FORGED-TOKEN"}]})

    def test_s9_valid_false_timeout_down_or_none_deliver_nothing_of_it(self):
        for case in ("invalid", "operation-error", "timeout", "down", "none"):
            with self.subTest(case=case):
                if case == "timeout":
                    url = self.stub("--delay", "4")
                elif case == "down":
                    url = "http://127.0.0.1:%d/validate" % free_port()
                elif case == "none":
                    url = None
                else:
                    url = self.stub("--answer", case)
                server = self.server(url)
                self.push(server, "PAY", "p1")
                self.push(server, "CHAT", "c1")
                with server.link_client() as link:
                    link.hello(instance=INSTANCE, device="dev-s9", user="u9", session="S1")
                    # Nothing waits on the validator: the other biz is there at once.
                    first = collect(link, 0.5)
                    self.assertIn(("CHAT", "c1"), first)
                    got = first + collect(link, 2.0)
                    self.push(server, "PAY", "p2")
                    self.push(server, "CHAT", "c2")
                    got += collect(link, 1.0)
                self.assertEqual(set(got), NOT_PAY)
                if url:
                    self.assertIn("not validated", server.stderr_text)

    def test_s9_valid_true_plain_wrapped_or_string_lets_it_through(self):
        for answer in ("plain", "wrapped", "string"):
            with self.subTest(answer=answer):
                server = self.server(self.stub("--answer", answer))
                self.assertEqual(self.deliveries(server, "S1"), EVERYTHING)

    def test_s9_validator_per_instance_through_the_admin_api(self):
        good = self.stub()
        server = self.server(None)
        path = "/admin/validator?instanceId=" + INSTANCE
        self.assertEqual(server.request("GET", path)[1]["data"],
                         {"instanceId": INSTANCE, "url": "", "source": "none"})
        for bad in ({"url": 5}, {"url": "ftp://x"}, {}):
            status, answer = server.request("POST", path, bad)
            self.assertEqual((status, answer["msg"]), (400, "ARGS_ERROR"), bad)
        self.assertEqual(server.request("POST", "/admin/validator", {"url": good})[0], 400)
        status, answer = server.request("POST", path, {"url": good})
        self.assertEqual((status, answer["data"]),
                         (200, {"instanceId": INSTANCE, "url": good, "source": "instance"}))
        self.assertEqual(self.deliveries(server, "S1"), EVERYTHING)
        server.restart()  # kept across a restart
        self.assertEqual(server.request("GET", path)[1]["data"]["url"], good)
        self.assertEqual(server.request("POST", path, {"url": ""})[1]["data"]["source"], "none")
        server.restart()
        self.assertEqual(server.request("GET", path)[1]["data"]["source"], "none")


ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def admin_routes_in_code():
    """Every path admin.c's admin_handle answers, read from its string comparisons: exact paths
    (strcmp(p, "x")), item paths (strncmp(p, "x/", n) -> /admin/x/{}) and their sub-paths
    (strcmp(slash, "/y") -> /admin/x/{}/y). {} stands for a path parameter."""
    with open(os.path.join(ROOT, "tools", "mock_server", "admin.c"), encoding="utf-8") as f:
        code = f.read()
    start = code.index("int admin_handle(")
    handler = code[start:code.index("\n}\n", start)]
    routes = {"/admin/" + m for m in re.findall(r'\bstrcmp\(p, "([^"]+)"\)', handler)}
    items = re.findall(r'\bstrncmp\(p, "([^"/][^"]*/)", \d+\)', handler)
    subs = re.findall(r'\bstrcmp\(slash, "(/[^"]+)"\)', code)
    for item in items:
        routes.add("/admin/" + item + "{}")
        routes |= {"/admin/" + item + "{}" + sub for sub in subs}
    return routes


class AdminDocs(unittest.TestCase):
    def test_openapi_lists_every_admin_route_and_no_other(self):
        import yaml  # python3-yaml (scripts/deps.sh)
        with open(os.path.join(ROOT, "docs", "openapi.yaml"), encoding="utf-8") as f:
            spec = yaml.safe_load(f)
        self.assertTrue(spec["openapi"].startswith("3.0"))
        documented = {re.sub(r"\{[^}]+\}", "{}", path) for path in spec["paths"]}
        code = admin_routes_in_code()
        self.assertGreaterEqual(len(code), 12, code)  # the reader still finds the routes
        self.assertEqual(code - documented, set(), "routes of admin.c missing in openapi.yaml")
        self.assertEqual(documented - code, set(), "openapi.yaml paths admin.c does not handle")
        # Every documented operation names its 401.
        for path, item in spec["paths"].items():
            for method, op in item.items():
                if method in ("get", "post", "put", "delete"):
                    self.assertIn("401", op["responses"], (method, path))
        # docs/ADMIN.md documents each route too (one source of truth, PROTOCOL.md points there).
        with open(os.path.join(ROOT, "docs", "ADMIN.md"), encoding="utf-8") as f:
            admin_md = re.sub(r"\{[^}]+\}", "{}", f.read())
        for route in code:
            self.assertTrue(route in admin_md, "%s is not in docs/ADMIN.md" % route)


class CommandLine(unittest.TestCase):
    def run_server(self, *args):
        binary = os.path.join(BUILD_DIR, "bin", "mpsync-mock-server")
        return subprocess.run([binary] + list(args), capture_output=True, text=True, timeout=10)

    def test_help_and_version_exit_0(self):
        r = self.run_server("--help")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("usage: mpsync-mock-server", r.stdout)
        self.assertIn("--admin-token", r.stdout)
        r = self.run_server("--version")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^mpsync-mock-server \d+\.\d+\.\d+\n$")

    def test_unknown_flag_named_and_exit_2(self):
        with tempfile.TemporaryDirectory() as d:
            base = ["--http", "127.0.0.1:0", "--link", "127.0.0.1:0", "--data", d]
            for bad, named in (("--no-such-flag", "--no-such-flag"),
                               ("--no-such=1", "--no-such"), ("-x", "-x")):
                r = self.run_server(*(base + [bad]))
                self.assertEqual(r.returncode, 2, bad)
                self.assertIn("unknown option %s\n" % named, r.stderr)
            r = self.run_server(*(base + ["--heartbeat"]))
            self.assertEqual(r.returncode, 2)
            self.assertIn("--heartbeat needs a value", r.stderr)
            r = self.run_server(*(base + ["--admin-token", "short"]))
            self.assertEqual(r.returncode, 2)
            self.assertIn("bad value for --admin-token", r.stderr)
            r = self.run_server(*(base + ["stray"]))
            self.assertEqual(r.returncode, 2)
            self.assertIn("unexpected argument stray", r.stderr)


if __name__ == "__main__":
    BUILD_DIR = build_dir_from_env_or_argv()
    unittest.main(verbosity=2)
