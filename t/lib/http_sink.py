#!/usr/bin/env python3
"""http_sink.py - a webhook receiver for botsentry-notifyd's tests.

Listens on 127.0.0.1:PORT and, for every POST, checks the signature header
X-Botsentry-Signature ("sha256=" + hex HMAC-SHA256 of the raw body under
the secret file's content without its trailing newline), parses the body as
JSON, and writes one file per request into OUT:

    OUT/NNNN.json  {"n": N, "path": ..., "delivery": X-Botsentry-Delivery,
                    "signature_ok": bool, "json_ok": bool, "status": answer,
                    "body": the parsed body (or null)}

Behaviour for failure tests (all optional):
    --fail-first N   answer 500 to the first N requests
    --status S       answer S to every request (after --fail-first)
    --delay SECS     wait before answering (a slow receiver)

A request with a bad signature is answered 401.  Writes its port to
OUT/port when ready.
"""
import argparse
import hashlib
import hmac
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
count = 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--secret-file", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--status", type=int, default=200)
    ap.add_argument("--delay", type=float, default=0.0)
    args = ap.parse_args()
    with open(args.secret_file, "rb") as f:
        secret = f.read().rstrip(b"\r\n")
    os.makedirs(args.out, exist_ok=True)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):
            pass

        def do_POST(self):
            global count
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            with lock:
                count += 1
                n = count
            sig = self.headers.get("X-Botsentry-Signature", "")
            want = "sha256=" + hmac.new(secret, raw, hashlib.sha256).hexdigest()
            sig_ok = hmac.compare_digest(sig, want)
            try:
                body = json.loads(raw.decode("utf-8"))
                json_ok = isinstance(body, dict)
            except Exception:
                body, json_ok = None, False
            if args.delay:
                time.sleep(args.delay)
            if not sig_ok:
                status = 401
            elif n <= args.fail_first:
                status = 500
            else:
                status = args.status
            rec = {"n": n, "path": self.path,
                   "delivery": self.headers.get("X-Botsentry-Delivery"),
                   "content_type": self.headers.get("Content-Type"),
                   "signature_ok": sig_ok, "json_ok": json_ok,
                   "status": status, "body": body}
            tmp = os.path.join(args.out, "%04d.tmp" % n)
            with open(tmp, "w") as f:
                json.dump(rec, f)
            os.rename(tmp, os.path.join(args.out, "%04d.json" % n))
            try:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "3")
                self.end_headers()
                self.wfile.write(b"ok\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout): recorded anyway

    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    with open(os.path.join(args.out, "port"), "w") as f:
        f.write("%d\n" % args.port)
    srv.serve_forever()


if __name__ == "__main__":
    main()
