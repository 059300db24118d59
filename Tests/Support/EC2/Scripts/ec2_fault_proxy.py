#!/usr/bin/env python3
"""HTTP proxy in front of moto that injects EC2 faults, for retry tests. Listens on 127.0.0.1 only
and forwards only to 127.0.0.1.

  ec2_fault_proxy.py --port P --upstream-port U

Every request outside /__paz_proxy/ is forwarded to 127.0.0.1:U unchanged - method, path, body and
headers, Host included, so SigV4 signatures stay valid - except the headers about the connection
itself (Connection, Keep-Alive, Expect, Proxy-*, TE, Trailer, Upgrade). GET and POST only; bodies
need Content-Length.

Requests are counted per EC2 action (the form field Action=, with ":DryRun" appended for DryRun=true
requests, else the path). A schedule of fault
rules decides which requests fail instead: the first rule with requests left whose action matches
(a rule without one matches all) takes the request. A rule either answers with an EC2 error
(status + the XML error EC2 sends), closes the connection without an answer, or holds the request
for "seconds" ("delay"); "before" rules act instead of forwarding (moto never sees the request), "after"
rules forward first and replace moto's answer (moto acted, the client does not learn it), or — for a
delay — hold moto's answer back.

Control (JSON):
  POST /__paz_proxy/faults  [{"action": "RunInstances" | null, "count": 2, "kind": "error" |
                            "disconnect" | "delay", "status": 503, "seconds": 30, "code": "RequestLimitExceeded",
                            "message": "...", "timing": "before" | "after"}, ...]  appended
  GET  /__paz_proxy/stats   {"seen": {action: n}, "forwarded": {...}, "faulted": {...}, "pending": n}
  POST /__paz_proxy/reset   empties the schedule and the counts
"""
import argparse
import http.client
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

CONTROL = "/__paz_proxy/"
NOT_FORWARDED = {"connection", "keep-alive", "expect", "proxy-connection", "proxy-authorization", "te",
                 "trailer", "transfer-encoding", "upgrade"}
UPSTREAM_TIMEOUT = 120

lock = threading.Lock()
schedule = []
stats = {"seen": {}, "forwarded": {}, "faulted": {}}


def count(kind, action):
    with lock:
        stats[kind][action] = stats[kind].get(action, 0) + 1


def take_fault(action):
    """The rule that takes this request (its count decremented), or None."""
    with lock:
        for rule in schedule:
            if rule["count"] > 0 and rule.get("action") in (None, action):
                rule["count"] -= 1
                return dict(rule)
    return None


def action_of(path, headers, body):
    if headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
        form = parse_qs(body.decode("utf-8", "replace"))
        values = form.get("Action")
        if values:
            # A DryRun request counts as its own action ("RunInstances:DryRun"): a fault scheduled for
            # the real request must not be spent on the check before it.
            dry = form.get("DryRun", ["false"])[0].lower() == "true"
            return values[0] + (":DryRun" if dry else "")
    values = parse_qs(urlsplit(path).query).get("Action")
    return values[0] if values else urlsplit(path).path


def error_body(code, message):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>%s</Code>'
            '<Message>%s</Message></Error></Errors><RequestID>%s</RequestID></Response>'
            % (escape(code), escape(message), uuid.uuid4())).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def handle_any(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith(CONTROL):
            self.control(body)
            return
        action = action_of(self.path, self.headers, body)
        count("seen", action)
        fault = take_fault(action)
        after = fault is not None and fault.get("timing", "before") == "after"
        if fault and not after:
            self.inject(fault, action)
            if fault["kind"] != "delay":
                return
        try:
            status, reason, headers, answer = self.forward(body)
        except OSError as error:
            self.reply(502, json.dumps({"proxyError": str(error)}).encode(), "application/json")
            return
        count("forwarded", action)
        if after:
            self.inject(fault, action)
            if fault["kind"] != "delay":
                return
        self.send_response_only(status, reason)
        for name, value in headers:
            if name.lower() not in NOT_FORWARDED and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def forward(self, body):
        connection = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=UPSTREAM_TIMEOUT)
        try:
            connection.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in NOT_FORWARDED:
                    connection.putheader(name, value)
            connection.endheaders(body)
            response = connection.getresponse()
            return response.status, response.reason, response.getheaders(), response.read()
        finally:
            connection.close()

    def inject(self, fault, action):
        count("faulted", action)
        if fault["kind"] == "delay":
            time.sleep(fault["seconds"])
            return
        if fault["kind"] == "disconnect":
            self.close_connection = True
            return
        self.reply(fault["status"], error_body(fault["code"], fault["message"]), "text/xml;charset=UTF-8")

    def control(self, body):
        name = self.path[len(CONTROL):]
        if self.command == "POST" and name == "faults":
            rules = json.loads(body or b"[]")
            with lock:
                schedule.extend(rules)
            self.reply(200, b"{}", "application/json")
        elif self.command == "GET" and name == "stats":
            with lock:
                answer = dict(stats, pending=sum(rule["count"] for rule in schedule))
                text = json.dumps(answer).encode()
            self.reply(200, text, "application/json")
        elif self.command == "POST" and name == "reset":
            with lock:
                schedule.clear()
                for table in stats.values():
                    table.clear()
            self.reply(200, b"{}", "application/json")
        else:
            self.reply(404, b'{"error": "unknown control request"}', "application/json")

    def reply(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = handle_any


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream-port", type=int, required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.upstream_port = args.upstream_port
    server.serve_forever()


if __name__ == "__main__":
    main()
