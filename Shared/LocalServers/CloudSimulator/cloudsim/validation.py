"""Validates requests and responses against the providers' OpenAPI documents with openapi-core.

Each document is parsed once per process. Two narrow workarounds are applied to the parsed copy (the files
on disk stay unchanged), both described in the README:
- the Hetzner document names response ranges `4xx`/`5xx`; OpenAPI (and openapi-core) wants `4XX`/`5XX`;
- both use `nullable: true` beside `allOf`/`oneOf`/`anyOf` without a `type`, which OAS 3.0.3 (and
  openapi-core) ignore, so null would be refused where the providers send it: such a schema becomes
  `anyOf: [<the schema without nullable>, null]`;
- the DigitalOcean bundle inlines every schema but keeps `discriminator.mapping` entries that point into
  the unbundled YAML files (`models/droplet_actions.yml#/…`), which cannot be resolved: such a
  discriminator is dropped, and the `anyOf` beside it alone decides;
- DigitalOcean's SSH key path parameter reuses the key model's `readOnly` id and fingerprint schemas, and
  openapi-core refuses every readOnly value in a request: `readOnly` is dropped from parameter schemas
  (it only means something for bodies);
- the DigitalOcean bundle turned the droplet status `off` into the boolean false (YAML 1.1); a boolean
  in an enum of a string schema is turned back into the string it was written as.
"""
import json
import logging
import os
import time

from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

log = logging.getLogger("cloudsim.validation")

# Where each provider's document says its API lives; requests are validated as if sent there.
SPEC_FILES = {
    "digitalocean": ("digitalocean-v2-droplets.openapi.json", "https://api.digitalocean.com", ""),
    "hetzner": ("hetzner-cloud.openapi.json", "https://api.hetzner.cloud", "/v1"),
}


def _patch(document):
    for item in document.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict) and isinstance(operation.get("responses"), dict):
                responses = operation["responses"]
                for key in [k for k in responses if k in ("1xx", "2xx", "3xx", "4xx", "5xx")]:
                    responses[key.upper()] = responses.pop(key)

    def strip_read_only(node):
        if isinstance(node, dict):
            node.pop("readOnly", None)
            for value in node.values():
                strip_read_only(value)
        elif isinstance(node, list):
            for value in node:
                strip_read_only(value)

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("parameters"), list):
                for parameter in node["parameters"]:
                    if isinstance(parameter, dict) and "schema" in parameter:
                        strip_read_only(parameter["schema"])
            mapping = (node.get("discriminator") or {}).get("mapping") or {}
            if any(not str(target).startswith("#") for target in mapping.values()):
                del node["discriminator"]
            if node.get("nullable") is True and "type" not in node and any(k in node for k in ("allOf", "oneOf", "anyOf")):
                inner = {k: v for k, v in node.items() if k != "nullable"}
                node.clear()
                node["anyOf"] = [inner, {"type": "object", "nullable": True, "enum": [None]}]
            if node.get("type") == "string" and isinstance(node.get("enum"), list):
                node["enum"] = [("off" if value is False else "on") if isinstance(value, bool) else value
                                for value in node["enum"]]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return document


class SpecRequest:
    """The request protocol of openapi-core, for a request already taken apart by the HTTP server."""

    def __init__(self, host_url, path, method, query_pairs, headers, body, content_type):
        self.host_url = host_url
        self.path = path
        self.method = method.lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(query_pairs), header=Headers(list(headers.items())), cookie=ImmutableMultiDict(),
        )
        self.body = body if body else None
        self.content_type = (content_type or "").lower()

    @property
    def full_url_pattern(self):
        return self.host_url + self.path


class SpecResponse:
    def __init__(self, status, headers, data, content_type):
        self.status_code = status
        self.headers = Headers(list(headers.items()))
        self.data = data if data else None
        self.content_type = content_type or ""


def describe(error):
    """What openapi-core found, including the schema errors it wraps."""
    parts = [f"{type(error).__name__}: {error}"]
    seen = set()
    current = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for schema_error in getattr(current, "schema_errors", None) or []:
            where = "/".join(str(p) for p in getattr(schema_error, "absolute_path", []))
            parts.append(f"{where or '<root>'}: {schema_error.message}"[:500])
        if current is not error and not getattr(current, "schema_errors", None):
            parts.append(f"{type(current).__name__}: {current}"[:500])
        current = current.__cause__ or current.__context__
    return "; ".join(dict.fromkeys(parts))


class Validator:
    """One parsed OpenAPI document."""

    def __init__(self, provider, spec_directory):
        file_name, self.host_url, self.base_path = SPEC_FILES[provider]
        self.provider = provider
        started = time.monotonic()
        with open(os.path.join(spec_directory, file_name), encoding="utf-8") as handle:
            document = _patch(json.load(handle))
        self.openapi = OpenAPI.from_dict(document)
        log.info("%s: parsed %s in %.2f s", provider, file_name, time.monotonic() - started)

    def _request(self, path, method, query_pairs, headers, body):
        return SpecRequest(self.host_url, self.base_path + path, method, query_pairs, headers, body,
                           headers.get("Content-Type", ""))

    def request_problem(self, path, method, query_pairs, headers, body):
        """None when the request is valid, else what is wrong with it. `path` is the provider path
        (`/v2/droplets`, `/servers`)."""
        try:
            self.openapi.validate_request(self._request(path, method, query_pairs, headers, body))
        except Exception as error:  # openapi-core raises a family of errors; all of them mean "invalid"
            return describe(error)
        return None

    def response_problem(self, path, method, query_pairs, headers, body, status, response_headers, data):
        try:
            self.openapi.validate_response(
                self._request(path, method, query_pairs, headers, body),
                SpecResponse(status, response_headers, data, response_headers.get("Content-Type", "")),
            )
        except Exception as error:
            return describe(error)
        return None
