"""/openapi.json documents the users, subscribers, tags, feedback and purchase endpoints."""

from __future__ import annotations

import httpx

PATHS = {
    "/partner/users": {"get"},
    "/partner/users/{id}": {"get", "patch", "put"},
    "/partner/users/{id}/communication_settings": {"get", "patch"},
    "/users/{id}/communication_settings": {"get", "patch"},
    "/partner/subscribers": {"post"},
    "/partner/tags": {"get", "put", "delete"},
    "/partner/feedbacks": {"get"},
    "/partner/feedbacks/{id}/respond": {"post"},
    "/partner/feedbacks/{id}/response": {"post"},
    "/purchases": {"post"},
    "/partner/purchases": {"post"},
    "/sandbox/feedbacks/{id}/view": {"post"},
    "/sandbox/feedbacks/{id}/rate": {"post"},
    "/sandbox/feedbacks/{id}/review": {"post"},
}


async def test_openapi_renders_and_lists_every_engagement_route(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    for path, methods in PATHS.items():
        assert set(paths[path]) >= methods, path


async def test_openapi_documents_array_parameters_in_bracket_notation(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    tag_params = {p["name"] for p in paths["/partner/tags"]["get"]["parameters"]}
    feedback_params = {p["name"] for p in paths["/partner/feedbacks"]["get"]["parameters"]}

    assert "user_ids[]" in tag_params
    assert "states[]" in feedback_params
