"""The HTTP front: routes /digitalocean/... and /hetzner/v1/... to the provider modules and /_sim/... to the
admin API. Every provider request is validated against the provider's OpenAPI document before it is
handled, and every response before it is sent; failures are answered loudly (400 for a bad request, 500 for
a bad response of the simulator) and recorded as violations."""
import json
import logging
import re
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cloudsim import admin
from cloudsim.state import ApiError

log = logging.getLogger("cloudsim.http")
PREFIXES = {"digitalocean": "/digitalocean", "hetzner": "/hetzner/v1"}


class Request:
    """What a provider handler sees."""

    def __init__(self, sim, account, path, query_pairs, body, base_url):
        self.state = sim.state
        self.fleet = sim.fleet
        self.account = account
        self.path = path
        self.query_pairs = query_pairs
        self.query_all = {}
        for key, value in query_pairs:
            self.query_all.setdefault(key, []).append(value)
        self.query_one = {k: v[0] for k, v in self.query_all.items()}
        self.body = body
        self.base_url = base_url


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cloudsim"
    sim = None  # set by serve()

    def log_message(self, *args):  # requests are logged by _provider without secrets
        pass

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _send(self, status, body_bytes, headers):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body_bytes)))
        self.end_headers()
        if body_bytes:
            self.wfile.write(body_bytes)

    def _dispatch(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(self.path)
        query_pairs = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
        if url.path.startswith("/_sim/"):
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = None
            status, answer = (400, {"error": "body is not JSON"}) if not isinstance(body, dict) else \
                admin.handle(self.sim, self.command, url.path, body)
            self._send(status, json.dumps(answer).encode(), {"Content-Type": "application/json"})
            return
        for provider, prefix in PREFIXES.items():
            if url.path == prefix or url.path.startswith(prefix + "/"):
                self._provider(provider, url.path[len(prefix):], query_pairs, raw)
                return
        self._send(404, b'{"error":"not a simulated API"}', {"Content-Type": "application/json"})

    def _provider(self, provider, path, query_pairs, raw):
        sim = self.sim
        module = sim.providers[provider]
        started = time.monotonic()
        headers = {k: v for k, v in self.headers.items()}
        authorization = self.headers.get("Authorization", "")
        token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
        account = sim.state.account(provider, token) if token else None
        who = account.label() if account else "(unauthenticated)"
        fault = sim.faults.take(provider, token, self.command, path) if account else None
        status, body, extra = None, None, {}
        if account is None:
            error = module.unauthorized()
            status, body = error.status, module.error_body(error.code, error.message)
        elif fault is not None:
            error = module.fault_error(fault)
            status, body = error.status, module.error_body(error.code, error.message)
            extra = module.rate_limit_headers(fault)
        else:
            problem = sim.validators[provider].request_problem(path, self.command, query_pairs, headers, raw)
            if problem is not None:
                text = f"{provider} {self.command} {path}: invalid request: {problem}"
                log.error("%s %s", who, text)
                sim.state.record_violation(account, text)
                payload = json.dumps({"id": "simulator_request_invalid", "message": problem}).encode()
                self._send(400, payload, {"Content-Type": "application/json"})
                return
            status, body, extra = self._route(module, account, path, query_pairs, raw, provider)
        response_headers = {"Content-Type": "application/json"} if body is not None else {}
        response_headers.update(module.rate_limit_headers())
        response_headers.update(extra)
        data = json.dumps(body).encode() if body is not None else b""
        problem = sim.validators[provider].response_problem(path, self.command, query_pairs, headers, raw, status,
                                                           response_headers, data)
        if problem is not None:
            text = f"{provider} {self.command} {path}: invalid response {status}: {problem}"
            log.error("%s %s", who, text)
            sim.state.record_violation(account, text)
            status, data = 500, json.dumps({"id": "simulator_response_invalid", "message": problem}).encode()
            response_headers = {"Content-Type": "application/json"}
        self._send(status, data, response_headers)
        log.info("%s %s %s%s -> %d (%.1f ms)", who, self.command, provider, path, status,
                 (time.monotonic() - started) * 1000)

    def _route(self, module, account, path, query_pairs, raw, provider):
        for method, pattern, handler in module.ROUTES:
            match = re.fullmatch(pattern, path)
            if method == self.command and match:
                body = json.loads(raw) if raw else {}
                request = Request(self.sim, account, path, query_pairs, body,
                                  f"http://{self.headers.get('Host', 'localhost')}{PREFIXES[provider]}")
                try:
                    with self.sim.state.lock:
                        return handler(request, *[urllib.parse.unquote(g) for g in match.groups()])
                except ApiError as error:
                    return error.status, module.error_body(error.code, error.message), error.headers
                except Exception as error:
                    log.exception("handler failed")
                    text = f"{provider} {self.command} {path}: simulator error: {error}"
                    self.sim.state.record_violation(account, text)
                    return 500, module.error_body("server_error", text), {}
        text = f"{provider} {self.command} {path}: in the API description but not simulated"
        self.sim.state.record_violation(account, text)
        return 404, module.error_body("not_found", text), {}


def serve(sim, host, port):
    Handler.sim = sim
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
