# End-to-end tests of the admin API the web console stands on: dependent config fields, records.
# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of the admin API behind the mock server's web console (guide §6): the
dependent-field rules of a sync config, the change details in operation records, the stats and
live-state endpoints, and the console's static files."""

import http.client
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpsync_harness import (STREAM_DEVICE, STREAM_USER, SharedServerTest,  # noqa: E402
                            build_dir_from_env_or_argv)

BUILD_DIR = None
INSTANCE = "ws_CONSOLE"
BIZ = [
    {"bizType": "UCHAT", "dimension": "user"},
    {"bizType": "DEVCFG", "dimension": "device"},
    {"bizType": "VOLATILE", "dimension": "user", "persistent": False},
    {"bizType": "GLOBAL-CFG", "scope": "global"},
]


def raw_get(port, path, method="GET"):
    """(status, headers dict with lower-case names, body bytes): the harness parses JSON only."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


class AdminConsoleTest(SharedServerTest):
    server_biz = BIZ

    def req(self, method, path, body=None):
        return self.server.request(method, path, body)

    def create(self, body):
        return self.req("POST", "/admin/biz?instanceId=" + INSTANCE, body)

    def assertRefused(self, result, code):
        status, body = result
        self.assertEqual((status, body), (400, {"success": False, "msg": code}))

    # -- dependent fields (guide §6.2) --

    def test_multi_device_only_for_user_dimension(self):
        self.assertRefused(self.create({"bizType": "DEP-MD", "dimension": "device",
                                        "multiDevice": False}),
                           "MULTI_DEVICE_NEEDS_USER_DIMENSION")
        self.assertEqual(self.req("GET", "/admin/biz/DEP-MD?instanceId=" + INSTANCE)[0], 404)
        # The same choice for a user is fine; switching that config to devices is not.
        self.assertEqual(self.create({"bizType": "DEP-MD", "multiDevice": False})[0], 200)
        path = "/admin/biz/DEP-MD?instanceId=" + INSTANCE
        self.assertRefused(self.req("PUT", path, {"dimension": "device"}),
                           "MULTI_DEVICE_NEEDS_USER_DIMENSION")
        self.assertEqual(self.req("GET", path)[1]["data"]["dimension"], "user")

    def test_user_consistency_only_for_user_dimension(self):
        self.assertRefused(self.create({"bizType": "DEP-UC", "dimension": "device",
                                        "userConsistency": True}),
                           "USER_CONSISTENCY_NEEDS_USER_DIMENSION")
        self.assertEqual(self.create({"bizType": "DEP-UC", "userConsistency": True})[0], 200)
        self.assertRefused(self.req("PUT", "/admin/biz/DEP-UC?instanceId=" + INSTANCE,
                                    {"dimension": "device"}),
                           "USER_CONSISTENCY_NEEDS_USER_DIMENSION")

    def test_threshold_only_with_persistence(self):
        self.assertRefused(self.create({"bizType": "DEP-TH", "persistent": False,
                                        "repushMode": "threshold", "threshold": 3}),
                           "THRESHOLD_NEEDS_PERSISTENCE")
        self.assertRefused(self.create({"bizType": "DEP-TH", "persistent": False,
                                        "threshold": 3}),
                           "THRESHOLD_NEEDS_PERSISTENCE")
        self.assertEqual(self.create({"bizType": "DEP-TH", "repushMode": "threshold",
                                      "threshold": 3})[0], 200)
        self.assertRefused(self.req("PUT", "/admin/biz/DEP-TH?instanceId=" + INSTANCE,
                                    {"persistent": False}),
                           "THRESHOLD_NEEDS_PERSISTENCE")
        # Dropping the threshold with the persistence is one consistent change.
        status, body = self.req("PUT", "/admin/biz/DEP-TH?instanceId=" + INSTANCE,
                                {"persistent": False, "repushMode": "queue", "threshold": 0})
        self.assertEqual(status, 200, body)

    # -- operation records (guide §6.9) --

    def test_records_carry_the_config_before_and_after(self):
        self.assertEqual(self.create({"bizType": "REC-CFG", "description": "v1"})[0], 200)
        path = "/admin/biz/REC-CFG?instanceId=%s&operator=alice" % INSTANCE
        self.assertEqual(self.req("PUT", path, {"description": "v2"})[0], 200)
        self.assertEqual(self.req("POST", "/admin/biz/REC-CFG/offline?instanceId=%s&operator=alice"
                                  % INSTANCE)[0], 200)
        self.assertEqual(self.req("DELETE", path)[0], 200)
        status, body = self.req("GET", "/admin/records?instanceId=%s&operator=alice" % INSTANCE)
        self.assertEqual(status, 200)
        recs = [r for r in body["data"] if json.loads(r["detail"])["bizType"] == "REC-CFG"]
        self.assertEqual([r["action"] for r in recs], ["delete config", "offline", "modify config"])
        deleted, offline, modified = (json.loads(r["detail"]) for r in recs)
        self.assertEqual((modified["before"]["description"], modified["after"]["description"]),
                         ("v1", "v2"))
        self.assertEqual((offline["before"]["online"], offline["after"]["online"]), (True, False))
        self.assertEqual((deleted["before"]["description"], deleted["after"]), ("v2", None))
        status, body = self.req("GET", "/admin/records?instanceId=%s&action=create+config"
                                % INSTANCE)
        created = [json.loads(r["detail"]) for r in body["data"]]
        made = [d for d in created if d["bizType"] == "REC-CFG"]
        self.assertEqual(len(made), 1)
        self.assertIsNone(made[0]["before"])
        self.assertEqual(made[0]["after"]["description"], "v1")

    # -- stats, push list states, live state, the console's push (guide §6.3, §6.7) --

    def push(self, body, global_=False):
        path = "/admin/push?instanceId=" + INSTANCE + ("&global=1" if global_ else "")
        return self.req("POST", path, body)

    def status(self, **who):
        q = "&".join("%s=%s" % kv for kv in who.items())
        status, body = self.req("GET", "/admin/status?instanceId=%s&%s" % (INSTANCE, q))
        self.assertEqual(status, 200, body)
        return body["data"]

    def test_stats_count_global_and_non_persistent_pushes(self):
        self.assertEqual(self.push({"bizType": "VOLATILE", "linkToken": "st-u", "thirdMsgId": "v1",
                                    "payload": "x"})[1]["msg"], "NOT_ONLINE")
        self.assertEqual(self.push({"bizType": "GLOBAL-CFG", "thirdMsgId": "g1", "payload": "y"},
                                   global_=True)[1]["msg"], "SUCCESS")
        status, body = self.req("GET", "/admin/stats?instanceId=" + INSTANCE)
        self.assertEqual(status, 200, body)
        d = body["data"]
        self.assertEqual(d["global"]["pushes"], 1)
        self.assertGreaterEqual(d["user"]["pushes"], 1)
        self.assertEqual(d["pushes"], d["user"]["pushes"] + d["device"]["pushes"] + 1)
        # Counted though nothing was stored: the push list only holds stored oplogs.
        st = self.status(userId="st-u")
        self.assertEqual((st["pushes"], st["pushList"]), (1, []))
        self.assertEqual(self.req("GET", "/admin/stats")[0], 400)

    def test_push_list_shows_stored_sent_and_acknowledged(self):
        for third in ("pl1", "pl2"):
            self.assertEqual(self.push({"bizType": "UCHAT", "linkToken": "pl-u",
                                        "thirdMsgId": third, "payload": "hi " + third})[1]["msg"],
                             "NOT_ONLINE")
        states = lambda: {p["thirdMsgId"]: p["state"] for p in self.status(userId="pl-u")["pushList"]}
        self.assertEqual(states(), {"pl1": "stored", "pl2": "stored"})
        with self.server.link_client(instance=INSTANCE, device="pl-d", user="pl-u") as c:
            got = c.recv_oplogs(2)
            self.assertEqual([o["thirdMsgId"] for o in got], ["pl1", "pl2"])
            self.assertEqual(states(), {"pl1": "sent", "pl2": "sent"})
            c.ack((STREAM_USER, "UCHAT", "pl-u", got[0]["id"]))
            self.assertTrue(wait_for(lambda: states()["pl1"] == "acknowledged"))
            self.assertEqual(states()["pl2"], "sent")
            first = [p for p in self.status(userId="pl-u")["pushList"] if p["thirdMsgId"] == "pl1"]
            self.assertEqual((first[0]["acknowledgedBy"], first[0]["payload"]), (["pl-d"], "hi pl1"))
        self.assertTrue(wait_for(lambda: not self.status(userId="pl-u")["online"]))
        self.assertEqual(states(), {"pl1": "acknowledged", "pl2": "stored"})

    def test_push_list_preview_cuts_at_a_character(self):
        text = "数据同步" * 25  # 100 characters, 300 bytes: the 200-byte preview ends mid-way
        self.assertEqual(self.push({"bizType": "UCHAT", "linkToken": "pv-u", "thirdMsgId": "pv1",
                                    "payload": text})[1]["msg"], "NOT_ONLINE")
        (entry,) = self.status(userId="pv-u")["pushList"]
        self.assertEqual((entry["payload"], entry["binary"]), (text[:66], False))

    def test_live_lists_ready_links_and_queue_depths(self):
        def links():
            status, body = self.req("GET", "/admin/live?instanceId=" + INSTANCE)
            self.assertEqual(status, 200, body)
            return {l["deviceId"]: l for l in body["data"]["links"]}
        for i in range(3):
            self.push({"bizType": "DEVCFG", "linkToken": "lv-d", "thirdMsgId": "lv%d" % i,
                       "payload": "p"})
        self.assertNotIn("lv-d", links())
        with self.server.link_client(instance=INSTANCE, device="lv-d", user="lv-u",
                                     os_type="ANDROID", app_version="2.1.0") as c:
            got = c.recv_oplogs(3)
            live = links()["lv-d"]
            self.assertEqual((live["userId"], live["osType"], live["appVersion"]),
                             ("lv-u", "ANDROID", "2.1.0"))
            self.assertEqual(live["queueDepth"], 3)
            self.assertEqual(live["queues"], [{"bizType": "DEVCFG", "dimension": "device",
                                               "depth": 3}])
            c.ack((STREAM_DEVICE, "DEVCFG", "lv-d", got[1]["id"]))
            self.assertTrue(wait_for(lambda: links()["lv-d"]["queueDepth"] == 1))
        self.assertTrue(wait_for(lambda: "lv-d" not in links()))

    def test_console_push_answers_as_the_push_api(self):
        self.assertEqual(self.push({"bizType": "UCHAT", "linkToken": "cp-u", "payload": "x"})[1],
                         {"success": False, "msg": "THIRDMSGID_IS_NULL"})
        self.assertEqual(self.push({"bizType": "GLOBAL-CFG", "linkToken": "cp-u",
                                    "thirdMsgId": "c1", "payload": "x"})[1]["msg"],
                         "NOT_SUPPORT_GLOBAL")
        self.assertEqual(self.req("GET", "/admin/push?instanceId=" + INSTANCE)[0], 405)

    # -- the console's files --

    def test_console_off_by_default(self):
        self.assertEqual(raw_get(self.server.http_port, "/console/")[0], 404)


class ConsoleFilesTest(SharedServerTest):
    server_biz = BIZ
    server_args = ("--console",)

    def get(self, path, method="GET"):
        return raw_get(self.server.http_port, path, method)

    def test_files_with_their_types_and_csp(self):
        for path, ctype, marker in (("/console/", "text/html", b"<!DOCTYPE html>"),
                                    ("/console/index.html", "text/html", b"<!DOCTYPE html>"),
                                    ("/console/console.js", "text/javascript", b"use strict"),
                                    ("/console/console.css", "text/css", b"body")):
            status, headers, body = self.get(path)
            self.assertEqual(status, 200, path)
            self.assertTrue(headers["content-type"].startswith(ctype), (path, headers))
            self.assertIn(marker, body)
            csp = headers["content-security-policy"]
            self.assertIn("script-src 'self'", csp)
            self.assertIn("default-src 'none'", csp)
            self.assertEqual(headers["x-content-type-options"], "nosniff")
        # The page loads nothing from elsewhere: no CDN, no inline script.
        page = self.get("/console/")[2].decode()
        self.assertNotIn("http://", page.replace("http://www.w3.org", ""))
        self.assertNotIn("https://", page)
        self.assertNotIn("<script>", page)

    def test_no_traversal_and_only_get(self):
        for path in ("/console/../admin/biz", "/console/%2e%2e/admin/biz", "/console/..%2fmain.c",
                     "/console//etc/passwd", "/console/console.c", "/console/nothing.js",
                     "/consolex"):
            status, headers, body = self.get(path)
            self.assertEqual(status, 404, path)
            self.assertNotIn(b"success\":true", body)
        self.assertEqual(self.get("/console/", "POST")[0], 405)
        # The admin and push APIs are unchanged beside it.
        self.assertEqual(self.server.request("GET", "/admin/biz?instanceId=" + INSTANCE)[0], 200)


if __name__ == "__main__":
    BUILD_DIR = build_dir_from_env_or_argv()
    unittest.main(verbosity=2)
