"""Query-parameter helpers shared by features."""

from typing import Annotated, Any

from fastapi import Depends, Query, Request


def array_query(name: str, description: str = "") -> Any:
    """A list-valued query parameter accepting ``name[]=a&name[]=b`` and ``name=a&name=b``.

    The bracket spelling is what the Thanx docs use and what /openapi.json documents.
    """

    def dependency(
        request: Request,
        _documented: Annotated[
            list[str] | None, Query(alias=f"{name}[]", description=description)
        ] = None,
    ) -> list[str]:
        params = request.query_params
        return [*params.getlist(f"{name}[]"), *params.getlist(name)]

    return Depends(dependency)
