#!/usr/bin/env python3
"""Check the gateway's OpenAPI document beyond what openapi-spec-validator checks.

Run by validate-openapi.sh. Exits non-zero and prints every finding when:
  - an example (media-type `examples`, `components/examples`, parameter/header `example`, schema
    `examples`) does not validate against its schema. Examples are checked in *strict* mode: every
    object schema that declares `properties` but no `additionalProperties` is treated as closed,
    so a misspelt or undocumented field in an example is an error (the document itself stays open
    for additive evolution of responses);
  - an operation has no operationId, or two operations share one;
  - a JSON request or response body has no named (`$ref`) schema, or a `components/examples`
    entry is unused;
  - a component schema is never referenced;
  - a POST lacks the `Idempotency-Key` parameter, or an authenticated operation lacks 401/403/429/503;
  - an operation that answers 202 does not use the shared OperationAccepted response.

Usage: check_openapi_examples.py [path/to/openapi.yaml]
"""

import copy
import json
import sys
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
BASE_URI = "urn:paz:gateway-openapi"


def load(path):
    with open(path, encoding="utf-8") as handle:
        # JSON round trip: YAML timestamps/dates stay strings exactly as written only if quoted, so
        # reject the document if PyYAML turned anything into a non-JSON type.
        document = yaml.safe_load(handle)
    json.dumps(document)
    return document


def pointer(*parts):
    return "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def close_objects(node):
    """Strict copy: object schemas with `properties` and no `additionalProperties` become closed."""
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node and "unevaluatedProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            close_objects(value)
    elif isinstance(node, list):
        for value in node:
            close_objects(value)


class Checker:
    def __init__(self, document):
        self.document = document
        strict = copy.deepcopy(document)
        close_objects(strict.get("components", {}).get("schemas", {}))
        # Inline schemas outside components (parameters, headers, bodies) are closed too.
        close_objects(strict.get("paths", {}))
        close_objects({k: v for k, v in strict.get("components", {}).items() if k != "schemas"})
        self.strict = strict
        self.registry = Registry().with_resource(
            BASE_URI, Resource(contents=strict, specification=DRAFT202012)
        )
        self.errors = []
        self.checked = 0

    def fail(self, where, message):
        self.errors.append(f"{where}: {message}")

    def resolve(self, node):
        """Follow local `$ref`s (components only) and return the target node."""
        seen = set()
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/") or ref in seen:
                raise ValueError(f"unsupported or cyclic $ref {ref}")
            seen.add(ref)
            node = self.document
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def validate(self, where, schema_pointer, instance):
        """Validate `instance` against the schema at `schema_pointer` of the strict document."""
        validator = Draft202012Validator(
            {"$ref": BASE_URI + schema_pointer},
            registry=self.registry,
            format_checker=FormatChecker(),
        )
        self.checked += 1
        try:
            errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
        except Exception as exception:  # an unresolvable $ref or a bad schema: report, keep going
            self.fail(where, f"cannot check the example: {type(exception).__name__}: {str(exception)[:200]}")
            return
        for error in errors:
            location = "/".join(str(p) for p in error.absolute_path) or "(root)"
            self.fail(where, f"example invalid at {location}: {error.message}")

    def check_media(self, where, media, media_pointer):
        schema = media.get("schema")
        if schema is None:
            return
        for name, example in (media.get("examples") or {}).items():
            if "$ref" in example:
                referenced = self.resolve(example)
                self.used_examples.add(example["$ref"].rsplit("/", 1)[-1])
                value = referenced.get("value")
            else:
                value = example.get("value")
            if value is None:
                self.fail(f"{where} example {name}", "has no value")
                continue
            self.validate(f"{where} example {name}", media_pointer + "/schema", value)
        if "example" in media:
            self.validate(f"{where} example", media_pointer + "/schema", media["example"])

    def check_parameter_like(self, where, node, node_pointer):
        if "$ref" in node:
            return  # a shared parameter or header, checked once under components
        if "example" in node and "schema" in node:
            self.validate(f"{where} example", node_pointer + "/schema", node["example"])

    def run(self):
        document = self.document
        self.used_examples = set()
        operation_ids = {}
        components = document.get("components", {})

        for path, item in document.get("paths", {}).items():
            for method in HTTP_METHODS:
                operation = item.get(method)
                if operation is None:
                    continue
                where = f"{method.upper()} {path}"
                op_pointer = pointer("paths", path, method)
                operation_id = operation.get("operationId")
                if not operation_id:
                    self.fail(where, "no operationId")
                elif operation_id in operation_ids:
                    self.fail(where, f"operationId {operation_id} also used by {operation_ids[operation_id]}")
                else:
                    operation_ids[operation_id] = where

                parameters = [self.resolve(p) for p in item.get("parameters", []) + operation.get("parameters", [])]
                names = {(p["in"], p["name"]) for p in parameters}
                if method == "post" and ("header", "Idempotency-Key") not in names:
                    self.fail(where, "POST without the Idempotency-Key parameter")

                authenticated = operation.get("security", document.get("security")) != []
                responses = operation.get("responses", {})
                if authenticated:
                    for status in ("401", "403", "429", "503"):
                        if status not in responses:
                            self.fail(where, f"authenticated operation does not document {status}")
                if "202" in responses and responses["202"].get("$ref") != "#/components/responses/OperationAccepted":
                    self.fail(where, "202 must be #/components/responses/OperationAccepted")

                body = operation.get("requestBody")
                if body is not None:
                    for media_type, media in body.get("content", {}).items():
                        if media_type.endswith("json") and "$ref" not in media.get("schema", {}):
                            self.fail(where, f"request body {media_type} has no named schema")
                        self.check_media(
                            f"{where} request {media_type}", media,
                            op_pointer + "/requestBody/content/" + media_type.replace("/", "~1"),
                        )

                for index, parameter in enumerate(operation.get("parameters", [])):
                    self.check_parameter_like(f"{where} parameter {index}", parameter, op_pointer + f"/parameters/{index}")
                for index, parameter in enumerate(item.get("parameters", [])):
                    self.check_parameter_like(f"{path} parameter {index}", parameter, pointer("paths", path, "parameters", index))

                for status, response in responses.items():
                    if "$ref" in response:
                        continue  # shared responses are checked once, below
                    response_pointer = op_pointer + f"/responses/{status}"
                    for media_type, media in response.get("content", {}).items():
                        if media_type.endswith("json") and "$ref" not in media.get("schema", {}):
                            self.fail(f"{where} {status}", f"response body {media_type} has no named schema")
                        self.check_media(
                            f"{where} {status} {media_type}", media,
                            response_pointer + "/content/" + media_type.replace("/", "~1"),
                        )

        for name, response in components.get("responses", {}).items():
            for media_type, media in response.get("content", {}).items():
                self.check_media(
                    f"components/responses/{name} {media_type}", media,
                    pointer("components", "responses", name, "content", media_type),
                )
        for name, parameter in components.get("parameters", {}).items():
            self.check_parameter_like(f"components/parameters/{name}", parameter, pointer("components", "parameters", name))
        for name, header in components.get("headers", {}).items():
            self.check_parameter_like(f"components/headers/{name}", header, pointer("components", "headers", name))

        for name, schema in components.get("schemas", {}).items():
            for index, example in enumerate(schema.get("examples", []) if isinstance(schema, dict) else []):
                self.validate(f"components/schemas/{name} examples[{index}]", pointer("components", "schemas", name), example)

        for name in components.get("examples", {}):
            if name not in self.used_examples:
                self.fail(f"components/examples/{name}", "never used")

        text = json.dumps(document)
        for name in components.get("schemas", {}):
            if f'"#/components/schemas/{name}"' not in text:
                self.fail(f"components/schemas/{name}", "never referenced")

        return operation_ids


def main():
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("openapi.yaml")
    checker = Checker(load(path))
    operation_ids = checker.run()
    for error in checker.errors:
        print(f"error: {error}", file=sys.stderr)
    if checker.errors:
        print(f"{path}: {len(checker.errors)} error(s)", file=sys.stderr)
        return 1
    print(f"{path}: {len(operation_ids)} operations, {checker.checked} examples valid (strict)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
