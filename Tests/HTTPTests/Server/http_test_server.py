#!/usr/bin/env python3
"""Scripted HTTP/1.1 server for PazHTTP's tests. Listens on 127.0.0.1 only.

Paths (every request may carry ?id=<test id>; counts are kept per id):
  /ok                      200 "ok", header X-Test: yes
  /echo[?ms=300]           200, JSON {method, path, query, headers: [[name, value]...], body}, after
                           an optional wait
  /flaky-429?n=2&retry-after=1[&date=1]
                           first n requests of an id answer 429 with Retry-After (seconds, or an
                           HTTP-date when date=1), then 200 with the echo JSON
  /flaky-503?n=2           first n requests of an id answer 503, then 200 with the echo JSON
  /status?code=404         answers that status
  /slow?ms=500             waits, then 200 "slow"
  /count?id=X              200, body = number of requests made with id X (not counting /count)
  /bytes?size=N            200, N bytes: 0, 1, ... 250, 0, 1, ... (byte i is i % 251)
  /redirect?to=/bytes&hops=1
                           302 to `to` (with this request's other query items) after `hops` hops
  /stall?ms=5000           200, Content-Length 1000: 10 bytes, then a wait, then the rest
  /captured?id=X           200, JSON list of the headers ([[name, value]...]) of every request made
                           with id X, in arrival order (not counting /count and /captured)
Any path with a Host header ending in .amazonaws.com (requests replaying the AWS SigV4 test suite):
  200 with the echo JSON, whatever the path — no id needed, the response is the capture.
"""
import argparse
import email.utils
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

counts = {}
captured = {}
counts_lock = threading.Lock()


def record(test_id, headers):
    with counts_lock:
        counts[test_id] = counts.get(test_id, 0) + 1
        captured.setdefault(test_id, []).append(headers)
        return counts[test_id]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle_any(self):
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        test_id = query.get("id", "")
        headers = [[k, v] for k, v in self.headers.items()]
        number = record(test_id, headers) if url.path not in ("/count", "/captured") else 0
        echo = json.dumps({
            "method": self.command,
            "path": url.path,
            "query": query,
            "headers": headers,
            "body": body.decode("utf-8", "replace"),
        }).encode()

        if url.path == "/slow" or (url.path == "/echo" and "ms" in query):
            time.sleep(int(query.get("ms", "500")) / 1000)
        if self.headers.get("Host", "").lower().endswith(".amazonaws.com"):
            self.reply(200, echo, {"Content-Type": "application/json"})
        elif url.path == "/ok":
            self.reply(200, b"ok", {"X-Test": "yes", "Content-Type": "text/plain"})
        elif url.path == "/echo":
            self.reply(200, echo, {"Content-Type": "application/json"})
        elif url.path == "/flaky-429":
            if number <= int(query.get("n", "2")):
                seconds = int(query.get("retry-after", "1"))
                if query.get("date") == "1":
                    value = email.utils.formatdate(time.time() + seconds, usegmt=True)
                else:
                    value = str(seconds)
                self.reply(429, b"slow down", {"Retry-After": value})
            else:
                self.reply(200, echo, {"Content-Type": "application/json"})
        elif url.path == "/flaky-503":
            if number <= int(query.get("n", "2")):
                self.reply(503, b"unavailable", {})
            else:
                self.reply(200, echo, {"Content-Type": "application/json"})
        elif url.path == "/status":
            self.reply(int(query.get("code", "200")), b"status", {})
        elif url.path == "/slow":
            self.reply(200, b"slow", {})
        elif url.path == "/bytes":
            size = int(query.get("size", "0"))
            pattern = bytes(range(251))
            self.reply(200, (pattern * (size // 251 + 1))[:size], {"Content-Type": "application/octet-stream"})
        elif url.path == "/redirect":
            hops = int(query.pop("hops", "1"))
            rest = dict(query)
            target = rest.pop("to", "/ok")
            if hops > 1:
                rest.update({"to": target, "hops": str(hops - 1)})
                target = "/redirect"
            location = target + "?" + "&".join(f"{k}={v}" for k, v in rest.items())
            self.reply(302, b"", {"Location": location})
        elif url.path == "/stall":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"x" * 10)
            self.wfile.flush()
            time.sleep(int(query.get("ms", "5000")) / 1000)
            try:
                self.wfile.write(b"x" * 990)
            except OSError:
                pass
        elif url.path == "/captured":
            with counts_lock:
                value = json.dumps(captured.get(test_id, [])).encode()
            self.reply(200, value, {"Content-Type": "application/json"})
        elif url.path == "/count":
            with counts_lock:
                value = counts.get(test_id, 0)
            self.reply(200, str(value).encode(), {"Content-Type": "text/plain"})
        else:
            self.reply(404, b"no such path", {})

    def reply(self, status, body, headers):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Set-Cookie", "session=server-cookie-secret")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    Server(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
