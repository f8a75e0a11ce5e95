"""List-valued query parameters that also render in /openapi.json.

``kit.params.array_query`` reads ``key[]=a&key=b`` correctly, but its inner annotation is a string
(that module uses postponed annotations) closing over ``name``, which FastAPI cannot resolve when
it builds the OpenAPI document: /openapi.json fails for any route using it. ``list_query`` is the
same parameter with a real annotation. This module deliberately has no
``from __future__ import annotations``.
"""

from typing import Annotated, Any

from fastapi import Depends, Query, Request


def list_query(name: str, description: str = "") -> Any:
    """A list-valued query parameter accepting ``name[]=a&name[]=b`` and ``name=a&name=b``.

    The bracket spelling is the documented one (and the one /openapi.json shows).
    """
    documented: Any = Annotated[list[str] | None, Query(alias=f"{name}[]", description=description)]

    def dependency(
        request: Request,
        _documented: documented = None,
    ) -> list[str]:
        params = request.query_params
        return [*params.getlist(f"{name}[]"), *params.getlist(name)]

    return Depends(dependency)
