#!/usr/bin/env python3
# A tenant's session validator (guide §5.4) for tests and the demo: answers as told, or slowly.
# SPDX-License-Identifier: Apache-2.0
"""Stands in for the tenant's com.antcloud.session.validate endpoint that mpsync-mock-server
calls (--validate-url, docs/ADMIN.md). Listens on 127.0.0.1, prints "validator-stub ready
port=N" once listening, and answers every POST:

  --valid-sessions A,B   sessions it calls valid (default: every session)
  --answer MODE          plain   {"success":true,"resultCode":"OK","result":{"sid":..,"valid":b}}
                         wrapped the same inside {"response": ...}, as the guide's sample
                         string  "true"/"false" as strings for success and valid
                         invalid valid is false for every session
                         operation-error  success false, resultCode OPERATION_ERROR
  --delay SECONDS        wait this long before answering (a slow validator)

GET /requests returns the JSON bodies received so far (tests check the request form). "Down"
needs no mode: point the server at a port where nothing listens."""

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OPERATION = "com.antcloud.session.validate"


def answer(mode, request, valid_sessions):
    params = (request.get("requestData") or [{}])[0]
    session = params.get("sessionId", "")
    if request.get("operationType") != OPERATION or mode == "operation-error":
        return {"success": False, "resultCode": "OPERATION_ERROR",
                "resultMsg": "only %s is handled" % OPERATION}
    valid = mode != "invalid" and (valid_sessions is None or session in valid_sessions)
    body = {"success": True, "resultCode": "OK", "resultMsg": "Operation is done successfully",
            "result": {"sid": session, "valid": valid}}
    if mode == "string":
        body["success"] = "true"
        body["result"]["valid"] = "true" if valid else "false"
    if mode == "wrapped":
        body = {"response": body}
    return body


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--answer", default="plain",
                    choices=["plain", "wrapped", "string", "invalid", "operation-error"])
    ap.add_argument("--valid-sessions", default=None)
    ap.add_argument("--delay", type=float, default=0.0)
    args = ap.parse_args()
    valid_sessions = set(args.valid_sessions.split(",")) if args.valid_sessions else None
    seen, lock = [], threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                request = json.loads(raw)
            except ValueError:
                request = {}
            with lock:
                seen.append({"headers": {"Operation-Type": self.headers.get("Operation-Type"),
                                         "Content-Type": self.headers.get("Content-Type")},
                             "body": request})
            if args.delay:
                time.sleep(args.delay)
            self.reply(answer(args.answer, request, valid_sessions))

        def do_GET(self):
            with lock:
                self.reply(list(seen))

        def reply(self, obj):
            data = json.dumps(obj).encode("utf-8")
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the server gave up waiting (a slow-validator test)

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("validator-stub ready port=%d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
