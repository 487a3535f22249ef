"""QA4 API-1, API-2, API-6: ``/openapi.json`` is a document a program can use as it is: every
``$ref`` resolves inside it (Swagger UI showed "Resolver error" on every operation: ErrorBody's
``code`` pointed at ``#/$defs/ErrorCode``), every schema in it is a valid JSON Schema, every
error a route gives is documented as an ``ErrorBody`` (415 on the JSON routes included), the
paging headers are in it, and the token's ways in are declared (``/docs`` gets "Authorize")."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOC = "urn:glassnet:openapi"


def refs(node: Any, where: str = "#") -> list[tuple[str, str]]:
    """(where, target) of every ``$ref`` in a JSON document."""
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out.append((where, value))
            else:
                out.extend(refs(value, f"{where}/{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.extend(refs(value, f"{where}/{i}"))
    return out


def resolve(doc: dict[str, Any], pointer: str) -> Any:
    """The node a local reference (``#/a/b``) names in ``doc``; KeyError if none."""
    assert pointer.startswith("#/"), pointer
    node: Any = doc
    for part in pointer[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def schemas_in(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every JSON Schema of the document: the components' and each parameter's and body's."""
    out = [(f"components/{name}", s) for name, s in doc["components"]["schemas"].items()]
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            for p in op.get("parameters", []):
                out.append((f"{method} {path} ?{p['name']}", p["schema"]))
            bodies = [("body", (op.get("requestBody") or {}).get("content", {}))]
            bodies += [(code, r.get("content", {})) for code, r in op["responses"].items()]
            for what, content in bodies:
                for ctype, media in content.items():
                    if "schema" in media:
                        out.append((f"{method} {path} {what} {ctype}", media["schema"]))
    return out


@pytest.fixture
def doc(client: TestClient) -> dict[str, Any]:
    return client.get("/openapi.json").json()


def validator(doc: dict[str, Any], pointer: str) -> jsonschema.Draft202012Validator:
    """A validator for the schema at ``pointer``, its references resolved in the document."""
    registry = Registry().with_resource(DOC, Resource(contents=doc, specification=DRAFT202012))
    return jsonschema.Draft202012Validator({"$ref": f"{DOC}{pointer}"}, registry=registry)


def test_every_reference_resolves_in_the_document(doc: dict[str, Any]) -> None:
    found = refs(doc)
    assert len(found) > 100
    dangling = []
    for where, target in found:
        try:
            resolve(doc, target)
        except (KeyError, IndexError, AssertionError):
            dangling.append((where, target))
    assert dangling == []
    assert "$defs" not in doc and all("$defs" not in s for s in doc["components"]["schemas"].values())
    code = doc["components"]["schemas"]["ErrorBody"]["properties"]["code"]
    assert code == {"$ref": "#/components/schemas/ErrorCode"}


def test_every_schema_is_valid_json_schema_and_resolves(doc: dict[str, Any]) -> None:
    """Each schema is a valid 2020-12 schema (OpenAPI 3.1's dialect), and a validator built from
    the document resolves every reference it meets (what failed for ErrorBody: PointerToNowhere)."""
    assert doc["openapi"].startswith("3.1")
    schemas = schemas_in(doc)
    assert len(schemas) > 150
    for _where, schema in schemas:
        jsonschema.Draft202012Validator.check_schema(schema)
    registry = Registry().with_resource(DOC, Resource(contents=doc, specification=DRAFT202012))
    resolver = registry.resolver(base_uri=DOC)
    for _where, target in refs(doc):
        resolver.lookup(target)  # raises PointerToNowhere on a reference that points nowhere


def documented(doc: dict[str, Any], method: str, path: str, status: int) -> jsonschema.Draft202012Validator:
    response = doc["paths"][path][method]["responses"][str(status)]
    pointer = (
        f"#/paths/{path.replace('/', '~1')}/{method}/responses/{status}/content/application~1json/schema"
    )
    assert "application/json" in response.get("content", {}), (method, path, status, response)
    return validator(doc, pointer)


def test_every_error_is_an_error_body_and_json_routes_document_415(doc: dict[str, Any]) -> None:
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    with_body = 0
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            for status, response in op["responses"].items():
                if int(status) >= 400:
                    assert response["content"] == {"application/json": {"schema": ref}}, (
                        method,
                        path,
                        status,
                    )
            if "requestBody" in op:
                with_body += 1
                assert "415" in op["responses"], (method, path)
    assert with_body >= 15


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        (
            "post",
            "/api/runs",
            {"content": b'{"preset": "mlp"}', "headers": {"content-type": "text/plain"}},
            415,
        ),
        ("post", "/api/predict", {"content": b"x", "headers": {"content-type": "text/plain"}}, 415),
        ("post", "/api/models", {"content": b"x", "headers": {"content-type": "text/plain"}}, 415),
        ("get", "/api/models/{model_id}", {}, 404),
        ("get", "/api/runs/{run_id}", {}, 404),
    ],
)
def test_real_errors_match_their_documented_schema(
    client: TestClient, doc: dict[str, Any], method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    real = path.replace("{model_id}", "nope").replace("{run_id}", "nope")
    if path == "/api/predict":
        real += "?model=nope"
    r = client.request(method.upper(), real, **kwargs)
    assert r.status_code == status, r.text
    documented(doc, method, path, status).validate(r.json())
    assert r.json()["code"] in doc["components"]["schemas"]["ErrorCode"]["enum"]
    # A body without its code no longer passes: the schema says code is required.
    with pytest.raises(jsonschema.ValidationError):
        documented(doc, method, path, status).validate({"detail": r.json()["detail"]})


def test_predict_404_answers_with_a_code(client: TestClient, doc: dict[str, Any]) -> None:
    r = client.post("/api/predict?model=nope", json={"pixels": [0.0] * 784})
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    documented(doc, "post", "/api/predict", 404).validate(r.json())


def test_the_paging_headers_and_the_raw_image_body_are_documented(doc: dict[str, Any]) -> None:
    headers = doc["paths"]["/api/runs"]["get"]["responses"]["200"]["headers"]
    assert {"X-Next-Cursor", "Link"} <= set(headers)
    predict = doc["paths"]["/api/predict"]["post"]
    assert {"application/json", "multipart/form-data", "image/*"} <= set(predict["requestBody"]["content"])
    model = next(p for p in predict["parameters"] if p["name"] == "model")
    assert "no weights yet" in model["description"] and "default model" in model["description"]


def test_the_token_is_declared(doc: dict[str, Any]) -> None:
    """API-6: /docs has "Authorize" (securitySchemes), for the three ways a token is taken; the
    empty requirement says none is needed on a loopback server; the open paths need none."""
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert (schemes["tokenHeader"]["in"], schemes["tokenHeader"]["name"]) == ("header", "X-Glassnet-Token")
    assert (schemes["tokenCookie"]["in"], schemes["tokenCookie"]["name"]) == ("cookie", "glassnet_token")
    assert {"bearer": []} in doc["security"] and {} in doc["security"]
    for requirement in doc["security"]:
        assert set(requirement) <= set(schemes)
    for path in ("/healthz", "/readyz", "/api/join"):
        for op in doc["paths"][path].values():
            assert op["security"] == [{}], path
    assert "security" not in doc["paths"]["/api/runs"]["get"]  # the document's own applies
