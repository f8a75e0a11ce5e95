"""Query-parameter helpers shared by features.

No ``from __future__ import annotations`` here: the dependency's annotation is built at run time
from the parameter's name, and must stay a real object for FastAPI to read it.
"""

from typing import Annotated, Any

from fastapi import Depends, Query, Request


def array_query(name: str, description: str = "") -> Any:
    """A list-valued query parameter accepting ``name[]=a&name[]=b`` and ``name=a&name=b``.

    The bracket spelling is what the Thanx docs use and what /openapi.json documents.
    """
    documented = Annotated[list[str] | None, Query(alias=f"{name}[]", description=description)]

    async def dependency(request: Request, _documented: documented = None) -> list[str]:
        params = request.query_params
        return [*params.getlist(f"{name}[]"), *params.getlist(name)]

    return Depends(dependency)
