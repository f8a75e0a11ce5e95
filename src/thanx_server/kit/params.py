"""Query-parameter helpers shared by features: list parameters and ``PageParams``.

No ``from __future__ import annotations`` here: the dependency's annotation is built at run time
from the parameter's name, and must stay a real object for FastAPI to read it.
"""

from typing import Annotated, Any

from fastapi import Depends, Query, Request

from thanx_server.kit.pagination import DEFAULT_PER_PAGE, MAX_PAGE, MAX_PER_PAGE, Page


def array_query(name: str, description: str = "") -> Any:
    """A list-valued query parameter accepting ``name[]=a&name[]=b`` and ``name=a&name=b``.

    The bracket spelling is what the Thanx docs use and what /openapi.json documents.
    """
    documented = Annotated[list[str] | None, Query(alias=f"{name}[]", description=description)]

    async def dependency(request: Request, _documented: documented = None) -> list[str]:
        params = request.query_params
        return [*params.getlist(f"{name}[]"), *params.getlist(name)]

    return Depends(dependency)


async def _page_params(
    page: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page number, from 1.")] = 1,
    per_page: Annotated[
        int, Query(ge=1, le=MAX_PER_PAGE, description="Records per page, 1 to 100.")
    ] = DEFAULT_PER_PAGE,
) -> Page:
    return Page(page=page, per_page=per_page)


PageParams = Annotated[Page, Depends(_page_params)]
