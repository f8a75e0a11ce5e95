"""kit/fastroute.py: a compiled route answers exactly as FastAPI's own handler for the same route.

Every case is sent twice, through the compiled plan and through FastAPI's handler, and the two
answers (status, headers, body) must be equal. A spy on FastAPI's handler proves which path a
request took: the plan for plain requests, FastAPI for values the plan does not vouch for.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Security
from fastapi.routing import APIRoute
from pydantic import AliasChoices, BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Receive, Scope, Send

from tests import loyalty_factories as lf
from tests.factories import Credential, Factory
from thanx_server.kit.fastroute import (
    FastRouteApp,
    FastRouteIndex,
    FastRouteUnsupported,
    fast_path,
    install_fast_routes,
)
from thanx_server.models import Merchant

HOT_ROUTES = {
    "GET /partner/merchants",
    "GET /partner/metadata/merchants",
    "GET /partner/campaigns/{id}",
    "GET /rewards",
    "GET /partner/users",
    "GET /partner/users/{id}",
    "POST /partner/campaigns",
}


def fast_apps(app: FastAPI) -> list[FastRouteApp]:
    return [
        route.app
        for route in app.router.routes
        if isinstance(route, APIRoute) and isinstance(route.app, FastRouteApp)
    ]


class FullSpy:
    """Stands in for FastAPI's handler inside a FastRouteApp and counts the hand-overs."""

    def __init__(self, target: FastRouteApp) -> None:
        self.target = target
        self.inner = target.full
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        await self.inner(scope, receive, send)


@contextlib.contextmanager
def spying(app: FastAPI) -> Iterator[list[FullSpy]]:
    spies = [FullSpy(target) for target in fast_apps(app)]
    for spy in spies:
        spy.target.full = spy
    try:
        yield spies
    finally:
        for spy in spies:
            spy.target.full = spy.inner


@contextlib.contextmanager
def fastapi_handlers(app: FastAPI) -> Iterator[None]:
    """Every compiled route served by FastAPI's own handler for the duration."""
    routes = [r for r in app.router.routes if isinstance(r, APIRoute)]
    compiled = {id(r): r.app for r in routes if isinstance(r.app, FastRouteApp)}
    for route in routes:
        if id(route) in compiled:
            route.app = compiled[id(route)].full
    try:
        yield
    finally:
        for route in routes:
            if id(route) in compiled:
                route.app = compiled[id(route)]


def snapshot(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted((k, v) for k, v in response.headers.items() if k != "x-request-id")
    return response.status_code, headers, response.content


@dataclass
class World:
    cred: Credential
    other: Credential  # a credential without rewards.issue / users.read
    campaign_id: str
    user_id: str
    email: str
    phone: str
    merchant_id: str
    user_token: str


@pytest.fixture
async def world(client: httpx.AsyncClient, factory: Factory, session: AsyncSession) -> World:
    merchant = await factory.merchant()
    user, _ = await factory.member(merchant)
    for _ in range(2):
        await factory.member(merchant)
    cred = await factory.partner([merchant])
    other = await factory.partner([merchant], scopes=["tags.read"])
    tpl = await lf.template(session, merchant)
    camp, variant = await lf.campaign(session, merchant, tpl)
    for _ in range(3):
        await lf.reward(session, user, camp, tpl, variant)
    view = await factory.campaign(merchant, partner_id=cred.partner_id)
    token = await client.post(
        "/partner/oauth/token",
        json={"merchant_id": merchant.id, "user_id": user.id},
        headers=cred.headers(),
    )
    assert token.status_code == 200, token.text
    assert user.email is not None
    assert user.phone is not None
    return World(
        cred=cred,
        other=other,
        campaign_id=view.campaign.id,
        user_id=user.id,
        email=user.email,
        phone=user.phone,
        merchant_id=merchant.id,
        user_token=token.json()["access_token"],
    )


def cases(w: World) -> list[tuple[str, dict[str, str], bool]]:
    """(url, headers, served by the plan?)"""
    partner = w.cred.headers()
    user = {"Authorization": f"Bearer {w.user_token}", "Accept-Version": "v4.0"}
    m = w.merchant_id
    return [
        # Served by the plan: answers and errors raised by dependencies or services.
        ("/partner/merchants", partner, True),
        ("/partner/metadata/merchants", partner, True),
        ("/partner/merchants", {}, True),  # 401
        ("/partner/merchants", {**partner, "Accept-Version": "v3"}, True),  # 400
        (f"/partner/campaigns/{w.campaign_id}", partner, True),
        (f"/partner/campaigns/{w.campaign_id}?merchant_id={m}", partner, True),
        (f"/partner/campaigns/{w.campaign_id}?merchant_id=nope", partner, True),
        ("/partner/campaigns/unknown", partner, True),  # 404
        (f"/partner/campaigns/{w.campaign_id}", w.other.headers(), True),  # 403
        ("/rewards", user, True),
        ("/rewards?page=2&per_page=1", user, True),
        ("/rewards?page=1&page=2&per_page=2", user, True),  # the last value counts
        (f"/rewards?user_id={w.user_id}", partner, True),
        ("/rewards", partner, True),  # a partner must name user_id
        (f"/partner/users?merchant_id={m}&email={w.email}", partner, True),
        (f"/partner/users?email={w.email.upper()}", partner, True),
        (f"/partner/users?phone={w.phone.replace('+', '%2B')}", partner, True),
        ("/partner/users?per_page=2&include_loyalty_attributes=true", partner, True),
        ("/partner/users?include_communication_settings=0", partner, True),
        (f"/partner/users/{w.user_id}", partner, True),
        (f"/partner/users/{w.user_id}?merchant_id={m}", partner, True),
        ("/partner/users/unknown", partner, True),
        ("/partner/users", w.other.headers(), True),
        # Handed to FastAPI: values the plan does not vouch for (valid or not).
        ("/rewards?page=0", user, False),
        ("/rewards?per_page=abc", user, False),
        ("/rewards?per_page=101", user, False),
        ("/rewards?per_page=+5", user, False),
        ("/rewards?page=1000001", user, False),
        ("/rewards?states[]=available", user, False),
        ("/rewards?merchant_id=" + "x" * 65, user, False),
        ("/partner/users?include_loyalty_attributes=yes", partner, False),
        ("/partner/users?updated_after=2020-01-01T00:00:00Z", partner, False),
        ("/partner/users?updated_after=yesterday", partner, False),
    ]


async def test_the_hot_routes_are_compiled_and_matched_first(app: FastAPI) -> None:
    assert set(install_fast_routes(app)) == HOT_ROUTES
    assert len(fast_apps(app)) == len(HOT_ROUTES)
    index = app.router.routes[0]
    assert isinstance(index, FastRouteIndex)
    assert {f"{min(r.methods - {'HEAD'})} {r.path}" for r in index.routes} == HOT_ROUTES
    assert app.url_path_for("get_campaign", id="c1") == "/partner/campaigns/c1"


async def test_both_handlers_answer_alike(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    for url, headers, planned in cases(world):
        with spying(app) as spies:
            fast = snapshot(await client.get(url, headers=headers))
        handed_over = sum(spy.calls for spy in spies)
        assert handed_over == (0 if planned else 1), (url, handed_over)
        with fastapi_handlers(app):
            full = snapshot(await client.get(url, headers=headers))
        assert fast == full, url
        assert fast[0] < 500, (url, fast)


def _masked(body: Any) -> Any:
    """A created campaign with its generated ids and creation time masked."""
    if isinstance(body, dict):
        return {k: "*" if k in ("id", "created_at") else _masked(v) for k, v in body.items()}
    if isinstance(body, list):
        return [_masked(v) for v in body]
    return body


@dataclass
class Post:
    body: str
    content_type: str = "application/json"


def post_cases(w: World, template_id: str) -> list[tuple[Post, bool]]:
    """(request, served by the plan?)"""
    campaign = {
        "merchant_id": w.merchant_id, "name": "Plan", "objective": "o", "fine_print": "f",
        "start_at": "2026-12-01T00:00:00Z", "end_at": "2027-01-01T00:00:00Z",
        "redeemable_from": "2026-12-01T00:00:00Z", "redeemable_to": "2027-02-01T00:00:00Z",
        "variants": [{"name": "Treatment", "reward_template_id": template_id}, {"name": "Control"}],
    }  # fmt: skip
    dump = json.dumps
    return [
        (Post(dump({"campaign": campaign})), True),
        (Post(dump({"campaign": {**campaign, "merchant_id": "elsewhere"}})), True),  # 403
        (Post(dump({"campaign": {**campaign, "variants": [{"name": "A"}]}})), True),  # service: 400
        # FastAPI's: another JSON media type (valid: the replayed body is created), invalid
        # bodies (validation errors name the field).
        (Post(dump({"campaign": campaign}), "application/vnd.thanx+json"), False),
        (Post(dump({"campaign": {**campaign, "start_at": "soon"}})), False),
        (Post(dump({"campaign": {k: v for k, v in campaign.items() if k != "name"}})), False),
        (Post(dump({"campaign": {**campaign, "variants": []}})), False),
        (Post('{"campaign": '), False),
        (Post("[]"), False),
    ]  # fmt: skip


async def test_both_handlers_answer_a_post_alike(
    app: FastAPI, client: httpx.AsyncClient, world: World, factory: Factory, session: AsyncSession
) -> None:
    template = await lf.template(session, await session.get_one(Merchant, world.merchant_id))
    created = 0
    for post, planned in post_cases(world, template.id):
        headers = world.cred.headers(**{"Content-Type": post.content_type})
        answers = []
        for handler in ("plan", "fastapi"):
            with contextlib.ExitStack() as stack:
                spies = stack.enter_context(spying(app))
                if handler == "fastapi":
                    stack.enter_context(fastapi_handlers(app))
                response = await client.post(
                    "/partner/campaigns", content=post.body, headers=headers
                )
                if handler == "plan":
                    handed_over = sum(spy.calls for spy in spies)
                    assert handed_over == (0 if planned else 1), (post, handed_over)
            body = response.json()
            created += response.status_code == 201
            answers.append((response.status_code, _masked(body)))
        assert answers[0] == answers[1], post
        assert answers[0][0] < 500, answers
    assert created == 4  # two per handler: plain and vendor JSON media type


async def test_the_plan_serves_real_data(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get(
        "/rewards?per_page=2",
        headers={"Authorization": f"Bearer {world.user_token}", "Accept-Version": "v4.0"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["rewards"]) == 2
    assert body["pagination"]["total_pages"] == 2
    found = await client.get(f"/partner/users?email={world.email}", headers=world.cred.headers())
    assert [u["id"] for u in found.json()["users"]] == [world.user_id]


# --- what the compiler refuses ---------------------------------------------------------------


class Out(BaseModel):
    value: str


def _app_with(endpoint: Any, **route: Any) -> FastAPI:
    app = FastAPI()
    app.get("/x", response_model=Out, **route)(fast_path(endpoint))
    return app


async def _header(x_thing: Annotated[str, Header()]) -> Out:
    return Out(value=x_thing)


def _sync(value: str = "a") -> Out:
    return Out(value=value)


def _sync_dependency() -> str:
    return "a"


async def _uses_sync_dependency(value: Annotated[str, Depends(_sync_dependency)]) -> Out:
    return Out(value=value)


async def _pattern(value: Annotated[str, Query(pattern="^a+$")] = "a") -> Out:
    return Out(value=value)


def _counter() -> str:
    return "a"


async def _uncached(value: Annotated[str, Depends(_counter, use_cache=False)]) -> Out:
    return Out(value=value)


class _ClassDependency:
    def __init__(self, value: str = "a") -> None:
        self.value = value

    async def __call__(self) -> str:
        return self.value


async def _class_dependency(dep: Annotated[Any, Depends(_ClassDependency)]) -> Out:
    return Out(value=str(dep))


async def _aliased(
    value: Annotated[str, Query(validation_alias=AliasChoices("a", "b"))] = "x",
) -> Out:
    return Out(value=value)


async def _factory_default(value: Annotated[str, Query(default_factory=lambda: "x")]) -> Out:
    return Out(value=value)


async def _model_query(value: Annotated[Out, Query()]) -> Out:
    return value


async def _scoped(
    value: Annotated[str, Security(_async_value, scopes=["a"])],
) -> Out:
    return Out(value=value)


@pytest.mark.parametrize(
    "endpoint",
    [
        _header, _sync, _uses_sync_dependency, _uncached, _class_dependency, _aliased,
        _factory_default, _model_query, _scoped,
    ],
)  # fmt: skip
def test_unsupported_endpoints_are_refused_at_startup(endpoint: Any) -> None:
    """What FastAPI would read or cache differently: refused rather than answered otherwise."""
    with pytest.raises(FastRouteUnsupported):
        install_fast_routes(_app_with(endpoint))


def test_a_marked_route_in_an_included_router_is_refused() -> None:
    async def nested() -> Out:
        return Out(value="nested")

    router = APIRouter()
    router.get("/x", response_model=Out)(fast_path(nested))
    app = FastAPI()
    app.include_router(router)
    with pytest.raises(FastRouteUnsupported):
        install_fast_routes(app)


async def _async_value() -> str:
    return "real"


async def _uses_value(value: Annotated[str, Depends(_async_value)]) -> Out:
    return Out(value=value)


async def test_dependency_overrides_are_applied_by_fastapi() -> None:
    app = _app_with(_uses_value)
    install_fast_routes(app)

    async def fake() -> str:
        return "fake"

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/x")).json() == {"value": "real"}
        app.dependency_overrides[_async_value] = fake
        assert (await client.get("/x")).json() == {"value": "fake"}


async def test_handing_over_keeps_nothing_alive() -> None:
    """A shared exception instance, re-raised, chained every hand-over's frames onto itself."""
    app = _app_with(_pattern)
    install_fast_routes(app)

    def live_requests() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, Request))

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for _ in range(5):
            assert (await client.get("/x?value=aa")).status_code == 200
        before = live_requests()
        for _ in range(50):
            assert (await client.get("/x?value=aa")).status_code == 200
        assert live_requests() <= before


async def test_a_constraint_the_plan_does_not_check_goes_to_fastapi() -> None:
    app = _app_with(_pattern)
    install_fast_routes(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        with spying(app) as spies:
            assert (await client.get("/x")).json() == {"value": "a"}  # the default: the plan
            assert spies[0].calls == 0
            assert (await client.get("/x?value=b")).status_code == 422
            assert (await client.get("/x?value=aa")).json() == {"value": "aa"}
            assert spies[0].calls == 2


async def _special() -> Out:
    return Out(value="special")


async def _prefixed(id: str) -> Out:
    return Out(value=f"prefixed:{id}")


async def _literal() -> Out:
    return Out(value="literal")


async def _by_id(id: str) -> Out:
    return Out(value=f"id:{id}")


async def test_a_route_an_earlier_one_could_take_is_not_matched_first() -> None:
    app = FastAPI()
    app.get("/x/special", response_model=Out)(_special)
    app.get("/z/a-{id}", response_model=Out)(_prefixed)
    app.get("/z/a-1", response_model=Out)(fast_path(_literal))
    app.get("/x/{id}", response_model=Out)(fast_path(_by_id))
    app.get("/y/{id}", response_model=Out)(fast_path(_by_id))
    assert install_fast_routes(app) == ["GET /z/a-1", "GET /x/{id}", "GET /y/{id}"]
    index = app.router.routes[0]
    assert isinstance(index, FastRouteIndex)
    assert [r.path for r in index.routes] == ["/y/{id}"]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/x/special")).json() == {"value": "special"}
        assert (await client.get("/x/other")).json() == {"value": "id:other"}
        assert (await client.get("/y/special")).json() == {"value": "id:special"}
        assert (await client.get("/z/a-1")).json() == {"value": "prefixed:1"}
        assert (await client.post("/y/1")).status_code == 405
