"""GET /static/images/{filename}: generated demo images (public, like a CDN's)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from thanx_server.kit.openapi import NOT_FOUND
from thanx_server.media import service

router = APIRouter(tags=["Static"], responses=NOT_FOUND)


@router.get(
    "/static/images/{filename}",
    response_class=Response,
    operation_id="getStaticImage",
    responses={200: {"content": {"image/svg+xml": {}}, "description": "The image."}},
)
async def get_image(filename: str) -> Response:
    """A small generated image (`<name>-small.svg` or `<name>-large.svg`)."""
    return Response(
        service.render(filename),
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )
