"""What /openapi.json says about errors and security, so it describes the real behaviour."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorEnvelope(BaseModel):
    """Every 4xx/5xx body."""

    error: ErrorDetail


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorEnvelope, "description": description}


PARTNER_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("Invalid input; the message names the field (VALIDATION_FAILED, BAD_REQUEST)."),
    401: _error("Missing or invalid credentials (AUTHENTICATION_GENERIC)."),
    403: _error("Missing scope, or a merchant outside the credential (FORBIDDEN)."),
    429: _error("Rate limit exceeded (RATE_LIMITED); see Retry-After."),
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: _error("Unknown resource, or one of another merchant (RESOURCE_NOT_FOUND).")
}
UNPROCESSABLE: dict[int | str, dict[str, Any]] = {
    422: _error("Not allowed in the resource's current state (INVALID_STATE).")
}


def install_openapi(app: FastAPI) -> None:
    """Replace FastAPI's 422 validation-error schema with our 400 envelope."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                responses = operation.get("responses", {})
                validation = responses.get("422", {})
                ref = str(validation.get("content", {}).get("application/json", {}).get("schema"))
                if "HTTPValidationError" in ref:
                    del responses["422"]
        components = schema.get("components", {}).get("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
