"""What /openapi.json says about errors and security, so it describes the real behaviour."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorEnvelope(BaseModel):
    """Every 4xx/5xx body."""

    error: ErrorDetail


REF_TEMPLATE = "#/components/schemas/{model}"


def _envelope_response(description: str) -> dict[str, Any]:
    schema = {"$ref": REF_TEMPLATE.format(model="ErrorEnvelope")}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_doc(description: str) -> dict[str, Any]:
    """An error response of an operation: the envelope, with what the status means there."""
    return {"model": ErrorEnvelope, "description": description}


_error = error_doc


PARTNER_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("Invalid input; the message names the field (VALIDATION_FAILED, BAD_REQUEST)."),
    401: _error("Missing or invalid credentials (AUTHENTICATION_GENERIC)."),
    403: _error("Missing scope, or a merchant outside the credential (FORBIDDEN)."),
    429: {
        **_error("Rate limit of the credential exceeded (RATE_LIMITED)."),
        "headers": {
            "Retry-After": {
                "description": "Whole seconds until the exhausted window frees a request.",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    },
}
# Added by ``install_openapi`` to every operation that takes a body (kit/request_guard.py).
BODY_ERRORS: dict[str, str] = {
    "413": "The body is larger than THANX_MAX_BODY_BYTES (PAYLOAD_TOO_LARGE).",
    "415": "The body is not application/json (UNSUPPORTED_MEDIA_TYPE).",
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: _error("Unknown resource, or one of another merchant (RESOURCE_NOT_FOUND).")
}
UNPROCESSABLE: dict[int | str, dict[str, Any]] = {
    422: _error("Not allowed in the resource's current state (INVALID_STATE).")
}


def _security(dependant: Dependant) -> list[dict[str, list[str]]] | None:
    """The ``security`` of the first dependency in the tree that declares one (an auth
    dependency's class attribute), depth first."""
    for dependency in dependant.dependencies:
        declared = getattr(dependency.call, "security", None)
        if declared is not None:
            return list(declared)
        found = _security(dependency)
        if found is not None:
            return found
    return None


def install_openapi(
    app: FastAPI, *, security_schemes: dict[str, dict[str, Any]] | None = None
) -> None:
    """Describe errors as they are: FastAPI's 422 validation schema is replaced by our 400
    envelope, every operation that takes a body documents the request guard's 413/415, and every
    operation gets a ``default`` response (any other error, same envelope). Operations whose
    dependencies include an auth dependency carry its ``security`` requirement (the auth
    dependencies read their headers themselves, so FastAPI cannot see them)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        paths = schema.get("paths", {})
        for route in app.routes:
            if not isinstance(route, APIRoute):
                continue
            required = _security(route.dependant)
            for method in (route.methods or ()) if required else ():
                operation = paths.get(route.path_format, {}).get(method.lower())
                if operation is not None:
                    operation["security"] = required
        if security_schemes:
            schema.setdefault("components", {})["securitySchemes"] = security_schemes
        for path_item in paths.values():
            for operation in path_item.values():
                responses = operation.get("responses", {})
                validation = responses.get("422", {})
                ref = str(validation.get("content", {}).get("application/json", {}).get("schema"))
                if "HTTPValidationError" in ref:
                    del responses["422"]
                if "requestBody" in operation:
                    for status, description in BODY_ERRORS.items():
                        responses.setdefault(status, _envelope_response(description))
                responses.setdefault(
                    "default", _envelope_response("Any other error, in the same envelope.")
                )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        if "ErrorEnvelope" not in components:  # only when no route declares an error model
            envelope = ErrorEnvelope.model_json_schema(ref_template=REF_TEMPLATE)
            components.update(envelope.pop("$defs", {}))
            components["ErrorEnvelope"] = envelope
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
