# Browser tests of the mock server's web console: headless Chromium driven by Selenium.
# SPDX-License-Identifier: Apache-2.0
"""The console in a real browser (issue 16): a config made in the console, data sent from its
form and received by mpsync-cli, the device online and the message acknowledged on the page, a
push refused once the config is offline, signatures switched on (an unsigned push refused, one
signed with openssl accepted), and every action in the records. Screenshots of each page go to
<build>/console-screenshots. Run by scripts/browser.sh with Debian's python3, chromium,
chromium-driver and python3-selenium."""

import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from mpsync_harness import MockServer, build_dir_from_env_or_argv  # noqa: E402
from cli_harness import Listener  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import (NoSuchElementException,  # noqa: E402
                                        StaleElementReferenceException, TimeoutException)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

BUILD_DIR = None
INSTANCE = "ws_BROWSER"
TOKEN = "browser-test-token"
BIZ = "BROWSER-CHAT"
WAIT_S = 20


def server_args(build_dir):
    """--console, and the admin token when this build has one (h-ops's --admin-token): without
    it every /admin call but the console's would be 401 after that change."""
    usage = subprocess.run([os.path.join(build_dir, "bin", "mpsync-mock-server")],
                           capture_output=True, text=True).stderr
    return ["--console"] + (["--admin-token", TOKEN] if "--admin-token" in usage else [])


def start_browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--disable-gpu", "--no-first-run"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


class ConsoleBrowserTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.shots = os.path.join(BUILD_DIR, "console-screenshots")
        os.makedirs(cls.shots, exist_ok=True)
        cls.server = MockServer(BUILD_DIR, extra_args=server_args(BUILD_DIR))
        cls.server.__enter__()
        try:
            cls.browser = start_browser()
        except BaseException:
            cls.server.__exit__(None, None, None)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.browser.quit()
        finally:
            cls.server.__exit__(None, None, None)

    # -- helpers --

    def api(self, method, path, body=None, headers=None):
        hdrs = {"Authorization": "Bearer " + TOKEN}
        hdrs.update(headers or {})
        return self.server.request(method, path, body, hdrs)

    def open_console(self):
        url = "http://127.0.0.1:%d/console/#token=%s&instance=%s" % (
            self.server.http_port, TOKEN, INSTANCE)
        self.browser.get(url)
        self.wait_for(lambda d: d.find_element(By.ID, "tabs").is_displayed())

    def wait_for(self, cond, what="condition"):
        try:
            # The pages redraw their tables on each answer: a lookup may race a redraw.
            return WebDriverWait(self.browser, WAIT_S, poll_frequency=0.1,
                                 ignored_exceptions=(NoSuchElementException,
                                                     StaleElementReferenceException)).until(cond)
        except TimeoutException:
            self.shot("timeout")
            raise AssertionError("timed out waiting for %s; page message: %r" % (
                what, self.browser.find_element(By.ID, "message").text))

    def el(self, css):
        return self.browser.find_element(By.CSS_SELECTOR, css)

    def tab(self, page):
        self.el("#tabs button[data-page=%s]" % page).click()
        self.wait_for(lambda d: d.find_element(By.ID, "page-" + page).is_displayed(), page)

    def shot(self, name):
        self.browser.save_screenshot(os.path.join(self.shots, name + ".png"))

    def fill(self, css, text):
        e = self.el(css)
        e.clear()
        e.send_keys(text)

    def config_row(self, biz):
        rows = self.browser.find_elements(By.CSS_SELECTOR, "#config-table tr[data-biz='%s']" % biz)
        return rows[0] if rows else None

    def config_status(self, biz):
        row = self.config_row(biz)
        return row.find_elements(By.TAG_NAME, "td")[5].text if row else None

    def row_button(self, biz, label):
        row = self.wait_for(lambda d: self.config_row(biz), biz + " row")
        for b in row.find_elements(By.TAG_NAME, "button"):
            if b.text == label:
                return b
        raise AssertionError("no %s button on %s" % (label, biz))

    def push_single(self, third, headers=None, body=None):
        body = body or json.dumps({"bizType": BIZ, "linkToken": "u-browser",
                                   "thirdMsgId": third, "payload": "api " + third})
        return self.api("POST", "/webapi/sync/single?instanceId=" + INSTANCE, body, headers)

    def record_actions(self):
        self.tab("records")
        before = self.el("#records-table").get_attribute("data-loaded")
        self.el("#records-form button[type=submit]").click()
        self.wait_for(lambda d: self.el("#records-table").get_attribute("data-loaded") != before,
                      "the records redrawn")
        return [r.get_attribute("data-action") for r in
                self.browser.find_elements(By.CSS_SELECTOR, "#records-table tbody tr")]

    # -- the scenario --

    def test_1_config_send_receive_ack_offline_records(self):
        self.open_console()
        # Standards mode: the purpose comment before the doctype must not make it quirks.
        self.assertEqual(self.browser.execute_script("return document.compatMode"), "CSS1Compat")
        # The token left the address bar and lives in sessionStorage.
        self.assertNotIn("token", self.browser.current_url)
        self.assertEqual(self.browser.execute_script("return sessionStorage.getItem('token')"),
                         TOKEN)

        # A new config; the dependent fields follow the dimension and the persistence.
        self.el("#new-config").click()
        self.fill("#config-form [name=bizType]", BIZ)
        self.fill("#config-form [name=description]", "chat from the browser test")
        self.el("#config-form [name=dimension][value=device]").click()
        self.assertFalse(self.el("#config-form .user-only").is_displayed())
        self.el("#config-form [name=dimension][value=user]").click()
        self.assertTrue(self.el("#config-form .user-only").is_displayed())
        self.el("#config-form [name=persistent][value=false]").click()
        self.assertFalse(self.el("#config-form .persistent-only").is_displayed())
        self.el("#config-form [name=persistent][value=true]").click()
        self.el("#config-form [name=repushMode][value=threshold]").click()
        self.assertTrue(self.el("#config-form .threshold-only").is_displayed())
        self.el("#config-form [name=repushMode][value=queue]").click()
        self.shot("config-form")
        self.el("#config-form button[type=submit]").click()
        self.wait_for(lambda d: self.config_row(BIZ), "the new config in the list")
        self.shot("configs")
        status, body = self.api("GET", "/admin/biz/%s?instanceId=%s" % (BIZ, INSTANCE))
        self.assertEqual((status, body["data"]["dimension"], body["data"]["online"]),
                         (200, "user", True), body)

        # An edit, recorded with its change.
        self.row_button(BIZ, "Edit").click()
        self.fill("#config-form [name=description]", "chat, edited")
        self.el("#config-form button[type=submit]").click()
        self.wait_for(lambda d: "Saved" in d.find_element(By.ID, "message").text, "saved")

        # A device of the user listens with mpsync-cli; the console sends it a message.
        with tempfile.TemporaryDirectory(prefix="mpsync-browser-cli-") as cli_dir, \
                Listener(BUILD_DIR, self.server, cli_dir, [BIZ], instance=INSTANCE,
                         user="u-browser", device="d-browser") as cli:
            cli.wait_connected()
            self.tab("send")
            Select(self.el("#send-form [name=bizType]")).select_by_value(BIZ)
            self.assertEqual(self.el("#target-label").text, "User ID 用户 ID")
            # The guide's defaults: both systems, 30 days.
            self.assertTrue(self.el("#send-form [name=android]").is_selected())
            self.assertTrue(self.el("#send-form [name=ios]").is_selected())
            self.assertEqual(self.el("#send-form [name=days]").get_attribute("value"), "30")
            self.fill("#send-form [name=linkToken]", "u-browser")
            self.fill("#send-form [name=payload]", "hello from the console")
            self.fill("#send-form [name=thirdMsgId]", "console-msg-1")
            self.shot("send")
            self.el("#send-form button[type=submit]").click()
            self.wait_for(lambda d: d.find_element(By.ID, "send-result").text == "Result: SUCCESS",
                          "the send result")
            (got,) = cli.take(1)
            self.assertEqual((got["pl"], got["bId"]), ("hello from the console", "console-msg-1"))

            # The data query page shows the user online and the message acknowledged (the
            # CLI acks what it delivered); it refreshes by itself.
            self.tab("query")
            Select(self.el("#query-form [name=dim]")).select_by_value("userId")
            self.fill("#query-form [name=target]", "u-browser")
            self.el("#query-form button[type=submit]").click()
            self.wait_for(lambda d: d.find_element(By.ID, "status-online").text.startswith("online"),
                          "the user online")
            state = "#push-table tr[data-third='console-msg-1'] td.state"
            self.wait_for(lambda d: d.find_element(By.CSS_SELECTOR, state).text == "acknowledged",
                          "the message acknowledged")
            self.assertIn("d-browser", self.el("#push-table tr[data-third='console-msg-1']").text)
            self.assertEqual(self.el("#status-pushes").text, "1")
            self.shot("query")

            # The live page lists the device, polled without a reload.
            self.tab("live")
            self.wait_for(lambda d: d.find_elements(By.CSS_SELECTOR,
                                                    "#live-table tr[data-device='d-browser']"),
                          "the device on the live page")
            self.shot("live")
        # The CLI has stopped: the live page drops it on a later poll.
        self.wait_for(lambda d: not d.find_elements(By.CSS_SELECTOR,
                                                    "#live-table tr[data-device='d-browser']"),
                      "the device gone from the live page")

        # Offline in the console: the push API refuses the bizType.
        self.tab("configs")
        self.row_button(BIZ, "Offline").click()
        self.wait_for(lambda d: self.config_status(BIZ) == "offline 下线", "the config offline")
        status, body = self.push_single("after-offline")
        self.assertEqual((status, body), (200, {"success": False, "msg": "BIZ_NOT_ONLINE"}))
        self.row_button(BIZ, "Online").click()
        self.wait_for(lambda d: self.config_status(BIZ) == "online 上线", "the config online again")

        # A second config, deleted after the browser's confirmation.
        self.el("#new-config").click()
        self.fill("#config-form [name=bizType]", "BROWSER-TMP")
        self.el("#config-form [name=dimension][value=device]").click()
        self.el("#config-form button[type=submit]").click()
        self.wait_for(lambda d: self.config_row("BROWSER-TMP"), "the second config")
        self.row_button("BROWSER-TMP", "Delete").click()
        self.browser.switch_to.alert.accept()
        self.wait_for(lambda d: not self.config_row("BROWSER-TMP"), "the second config deleted")
        self.assertEqual(self.api("GET", "/admin/biz/BROWSER-TMP?instanceId=" + INSTANCE)[0], 404)

        # Every action is in the records, newest first; the edit shows its changed field.
        actions = self.record_actions()
        self.assertEqual([a for a in actions if a != "new sync"][:6],
                         ["delete config", "create config", "online", "offline", "modify config",
                          "create config"])
        self.assertIn("new sync", actions)
        row = self.el("#records-table tr[data-action='modify config']")
        row.find_element(By.TAG_NAME, "button").click()
        changed = row.find_elements(By.CSS_SELECTOR, ".changed")
        self.assertEqual(len(changed), 1)
        self.assertIn("description", changed[0].text)
        self.assertIn("chat, edited", changed[0].text)
        self.shot("records")
        # The operator filter.
        self.fill("#records-form [name=operator]", "nobody")
        self.assertEqual(self.record_actions(), [])
        self.fill("#records-form [name=operator]", "")
        # Every page has its picture (the signature page is filled in test_2).
        self.tab("service")
        self.shot("service")

    def test_2_signatures(self):
        status, _ = self.api("GET", "/admin/signature")
        self.assertEqual(status, 200)
        self.open_console()
        with tempfile.TemporaryDirectory(prefix="mpsync-browser-key-") as d:
            key, pub = os.path.join(d, "key.pem"), os.path.join(d, "pub.pem")
            subprocess.run(["openssl", "genrsa", "-out", key, "2048"], check=True,
                           capture_output=True)
            subprocess.run(["openssl", "rsa", "-in", key, "-pubout", "-out", pub], check=True,
                           capture_output=True)
            with open(pub) as f:
                pem = f.read()
            self.tab("service")
            self.fill("#signature-form [name=publicKey]", pem)
            if not self.el("#signature-form [name=enabled]").is_selected():
                self.el("#signature-form [name=enabled]").click()
            self.el("#signature-form button[type=submit]").click()
            self.wait_for(lambda d: "Signatures on" in d.find_element(By.ID, "message").text,
                          "signatures on")
            self.shot("service")
            status, body = self.api("GET", "/admin/signature")
            self.assertTrue(body["data"]["enabled"], body)

            status, body = self.push_single("unsigned")
            self.assertFalse(body["success"], body)

            payload = json.dumps({"bizType": BIZ, "linkToken": "u-browser",
                                  "thirdMsgId": "signed-1", "payload": "signed"}).encode()
            path, query = "/webapi/sync/single", "instanceId=" + INSTANCE
            stamp = str(int(time.time() * 1000))
            # The query's raw name=value pairs, sorted by name, joined with "&".
            sorted_query = "&".join(sorted(query.split("&"), key=lambda kv: kv.split("=")[0]))
            canonical = "\n".join(["POST", path, sorted_query, stamp,
                                   hashlib.sha256(payload).hexdigest()]).encode()
            sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=canonical,
                                 check=True, capture_output=True).stdout
            status, body = self.push_single(
                "signed-1", body=payload,
                headers={"X-Mpsync-Timestamp": stamp,
                         "X-Mpsync-Signature": base64.b64encode(sig).decode()})
            self.assertTrue(body["success"], body)

            self.tab("service")
            self.el("#signature-form [name=enabled]").click()
            self.el("#signature-form button[type=submit]").click()
            self.wait_for(lambda d: "Signatures off" in d.find_element(By.ID, "message").text,
                          "signatures off")
        actions = self.record_actions()
        self.assertIn("开启签名", actions)
        self.assertIn("关闭签名", actions)


if __name__ == "__main__":
    BUILD_DIR = build_dir_from_env_or_argv()
    unittest.main(verbosity=2)
