"""schemathesis hooks for deploy/schemathesis.sh.

An Idempotency-Key names one request: a client sends a new key with every new request and the same
key only to repeat that request (openapi.yaml, parameter IdempotencyKey). Generated requests reuse
the document's one example key across every POST, which the gateway rightly answers with 422
idempotency-key-mismatch. So every well-formed key is replaced by a fresh one before the call, as a
client would send it; malformed keys (negative cases) are left as generated. Replays with the same
key are tested by the Swift suites (GatewayTests, DocumentedAnswersTests).
"""
import re
import uuid

import schemathesis

WELL_FORMED = re.compile(r"^[\x21-\x7E]{1,255}$")


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers or {}
    for name, value in list(headers.items()):
        if name.lower() == "idempotency-key" and isinstance(value, str) and WELL_FORMED.match(value):
            headers[name] = str(uuid.uuid4())
