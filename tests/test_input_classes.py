"""Issue 12: the four input classes that gave 500s, one property test per class over every
endpoint that takes such a field, on both engines.

* text that is not valid Unicode (a lone UTF-16 surrogate escape) -> 400 naming the field
  (kit/jsonbody.py, run by the request guard for every route);
* date-times near the calendar's ends -> 400 naming the field (kit/wire.WireDateTimeIn);
* amounts and balances past the documented bounds -> refused before anything is written, the
  same on both engines (domain/amounts.py);
* JSON nested deeper than 32 levels -> 400 on every route that takes a body.

Each property asserts the rule for the values it covers and "never a 5xx" for the rest.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Credential, Factory, assert_error
from thanx_server.domain.amounts import BALANCE_MAX
from thanx_server.kit.jsonbody import MAX_DEPTH, body_problem
from thanx_server.kit.time import isoformat_z, utcnow
from thanx_server.kit.wire import EARLIEST, LATEST
from thanx_server.models import Membership, Purchase, Tag, User

PROPERTY = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass
class World:
    cred: Credential
    merchant_id: str
    user_id: str
    template_id: str
    campaign_id: str
    variant_id: str
    feedback_id: str


@pytest.fixture
async def world(factory: Factory) -> World:
    merchant = await factory.merchant()
    user, _ = await factory.member(merchant)
    cred = await factory.partner([merchant])
    template = await factory.template(merchant)
    campaign = await factory.campaign(merchant, template=template, control=False)
    feedback_id = await factory.feedback(merchant, user, "rated")
    return World(
        cred=cred,
        merchant_id=merchant.id,
        user_id=user.id,
        template_id=template.id,
        campaign_id=campaign.campaign.id,
        variant_id=campaign.variants[0].id,
        feedback_id=feedback_id,
    )


def campaign_body(w: World, **fields: Any) -> dict[str, Any]:
    return {
        "campaign": {
            "merchant_id": w.merchant_id,
            "name": "Spring",
            "objective": "Bring guests back",
            "fine_print": "One per guest",
            "start_at": "2026-03-01T00:00:00Z",
            "end_at": "2026-04-01T00:00:00Z",
            "redeemable_from": "2026-03-01T00:00:00Z",
            "redeemable_to": "2026-05-01T00:00:00Z",
            "variants": [{"name": "Treatment", "reward_template_id": w.template_id}],
            **fields,
        }
    }


def purchase_body(w: World, **fields: Any) -> dict[str, Any]:
    return {
        "purchase": {
            "merchant_id": w.merchant_id,
            "user_id": w.user_id,
            "amount": 12.5,
            "purchased_at": isoformat_z(utcnow() - timedelta(hours=1)),
            "products": ["Margherita"],
            **fields,
        }
    }


# Every route that takes free text in its body: (method, path, body with the text, field name).
TextRoute = tuple[str, Callable[[World], str], Callable[[World, str], dict[str, Any]], str]
TEXT_ROUTES: dict[str, TextRoute] = {
    "campaign.name": ("POST", lambda w: "/partner/campaigns",
                      lambda w, t: campaign_body(w, name=t), "campaign.name"),
    "campaign.objective": ("POST", lambda w: "/partner/campaigns",
                           lambda w, t: campaign_body(w, objective=t), "campaign.objective"),
    "campaign.fine_print": ("POST", lambda w: "/partner/campaigns",
                            lambda w, t: campaign_body(w, fine_print=t), "campaign.fine_print"),
    "purchase.products": ("POST", lambda w: "/purchases",
                          lambda w, t: purchase_body(w, products=["Soda", t]),
                          "purchase.products[1]"),
    "purchase.card_id": ("POST", lambda w: "/partner/purchases",
                         lambda w, t: purchase_body(w, card_id=t), "purchase.card_id"),
    "tag.values": ("PUT", lambda w: "/partner/tags",
                   lambda w, t: {"merchant_id": w.merchant_id, "user_ids": [w.user_id],
                                 "key": "favorite", "values": ["a", t]}, "values[1]"),
    "tag.key": ("PUT", lambda w: "/partner/tags",
                lambda w, t: {"merchant_id": w.merchant_id, "user_ids": [w.user_id],
                              "key": t, "values": ["a"]}, "key"),
    "user.first_name": ("PATCH", lambda w: f"/partner/users/{w.user_id}",
                        lambda w, t: {"user": {"first_name": t}}, "user.first_name"),
    "subscriber.last_name": ("POST", lambda w: "/partner/subscribers",
                             lambda w, t: {"merchant_id": w.merchant_id, "subscriber": {
                                 "email": "sub@example.com", "last_name": t}},
                             "subscriber.last_name"),
    "token.email": ("POST", lambda w: "/partner/oauth/token",
                    lambda w, t: {"merchant_id": w.merchant_id, "email": t}, "email"),
    "feedback.response": ("POST", lambda w: f"/partner/feedbacks/{w.feedback_id}/respond",
                          lambda w, t: {"feedback": {"response": t}}, "feedback.response"),
    "sandbox.review": ("POST", lambda w: f"/sandbox/feedbacks/{w.feedback_id}/review",
                       lambda w, t: {"feedback": {"review": t}}, "feedback.review"),
    "grant.campaign_id": ("POST", lambda w: "/rewards/grant",
                          lambda w, t: {"campaign_id": t, "user_id": w.user_id}, "campaign_id"),
    "settings.merchant_id": ("PATCH",
                             lambda w: f"/partner/users/{w.user_id}/communication_settings",
                             lambda w, t: {"merchant_id": t, "communication_setting": {
                                 "marketing_general": {"email": False}}}, "merchant_id"),
    "user.zip_code (PUT)": ("PUT", lambda w: f"/partner/users/{w.user_id}",
                            lambda w, t: {"user": {"zip_code": t}}, "user.zip_code"),
    "tags.delete.key": ("DELETE", lambda w: "/partner/tags",
                        lambda w, t: {"merchant_id": w.merchant_id, "user_ids": [w.user_id],
                                      "key": t}, "key"),
    "revoke.merchant_id": ("POST", lambda w: "/partner/issuance_jobs/nojob/revoke",
                           lambda w, t: {"merchant_id": t}, "merchant_id"),
    "feedback.response (docs path)": ("POST", lambda w: f"/feedbacks/{w.feedback_id}/response",
                                      lambda w, t: {"feedback": {"response": t}},
                                      "feedback.response"),
    "campaign.variants.name": ("POST", lambda w: "/partner/campaigns",
                               lambda w, t: campaign_body(w, variants=[
                                   {"name": t, "reward_template_id": w.template_id}]),
                               "campaign.variants[0].name"),
    "issue.identifier": ("POST", lambda w: "/partner/campaigns/issue",
                         lambda w, t: {"merchant_id": w.merchant_id, "campaign_id": w.campaign_id,
                                       "variant_id": w.variant_id,
                                       "identifiers": [{"type": "email", "value": t}]},
                         "identifiers[0].value"),
}  # fmt: skip

lone_surrogates = st.integers(0xD800, 0xDFFF).map(chr)
# Text around one lone surrogate: the surrogate may not be completed by a neighbour.
invalid_texts = st.tuples(st.text(max_size=8), lone_surrogates, st.text(max_size=8)).map(
    lambda parts: parts[0] + parts[1] + parts[2]
)


def _is_invalid(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


async def send(
    client: httpx.AsyncClient, method: str, path: str, body: Any, headers: dict[str, str]
) -> httpx.Response:
    # ensure_ascii: surrogates travel as \\uXXXX escapes, as a hostile client would send them.
    raw = json.dumps(body, ensure_ascii=True).encode()
    return await client.request(
        method, path, content=raw, headers={**headers, "Content-Type": "application/json"}
    )


# --- Class 1: text that is not valid Unicode -------------------------------------------------


@pytest.mark.parametrize("route", sorted(TEXT_ROUTES))
@PROPERTY
@given(text=st.one_of(invalid_texts, st.text(max_size=20)))
async def test_text_that_is_not_valid_unicode_is_400_naming_the_field_on_every_route(
    client: httpx.AsyncClient, world: World, route: str, text: str
) -> None:
    method, path, build, field = TEXT_ROUTES[route]
    response = await send(client, method, path(world), build(world, text), world.cred.headers())
    assert response.status_code < 500, response.text
    if _is_invalid(text):
        # Named by its field (a NUL in the same text may be the reason given first).
        assert_error(response, 400, "VALIDATION_FAILED", f"{field}: ")


async def test_a_tag_value_that_is_not_valid_unicode_is_never_stored(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    body = {"merchant_id": world.merchant_id, "user_ids": [world.user_id], "key": "k",
            "values": ["ok", "bad\ud800"]}  # fmt: skip
    assert_error(
        await send(client, "PUT", "/partner/tags", body, world.cred.headers()),
        400,
        "VALIDATION_FAILED",
        "values[1]",
    )
    assert await session.scalar(select(func.count()).select_from(Tag)) == 0
    listed = await client.get(
        "/partner/tags",
        params={"merchant_id": world.merchant_id, "user_ids[]": world.user_id},
        headers=world.cred.headers(),
    )
    assert listed.status_code == 200, listed.text


async def test_an_escaped_surrogate_pair_is_ordinary_text(
    client: httpx.AsyncClient, world: World
) -> None:
    pizza = "\U0001f355"  # json.dumps spells it \\ud83c\\udf55: a valid pair
    response = await send(
        client, "PATCH", f"/partner/users/{world.user_id}",
        {"user": {"first_name": f"Ann {pizza}"}}, world.cred.headers(),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["user"]["first_name"] == f"Ann {pizza}"


async def test_an_escaped_backslash_before_a_surrogate_escape_is_ordinary_text(
    client: httpx.AsyncClient, world: World
) -> None:
    raw = b'{"user": {"first_name": "a\\\\ud800"}}'  # a backslash, then the letters ud800
    response = await client.patch(
        f"/partner/users/{world.user_id}",
        content=raw,
        headers={**world.cred.headers(), "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["user"]["first_name"] == "a\\ud800"


async def test_a_surrogate_in_a_key_names_the_key(client: httpx.AsyncClient, world: World) -> None:
    response = await send(
        client, "PATCH", f"/partner/users/{world.user_id}", {"user": {"x\udc00": 1}},
        world.cred.headers(),
    )  # fmt: skip
    assert_error(response, 400, "VALIDATION_FAILED", "user.x?: is not valid Unicode")


@PROPERTY
@given(raw=st.binary(max_size=6))
async def test_percent_encoded_invalid_utf8_in_a_query_is_never_a_500(
    client: httpx.AsyncClient, world: World, raw: bytes
) -> None:
    query = "".join(f"%{b:02X}" for b in b"\xed\xa0\x80" + raw)
    for path in ("/partner/users", "/partner/tags", "/partner/campaigns"):
        response = await client.get(
            f"{path}?email={query}&key={query}", headers=world.cred.headers()
        )
        assert response.status_code < 500, response.text


# --- Class 2: date-times near the calendar's ends --------------------------------------------

offsets = st.one_of(
    st.none(),
    st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m))),
)
wall_times = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(1, 1, 3)),
    st.datetimes(min_value=datetime(9999, 12, 29), max_value=datetime(9999, 12, 31, 23, 59)),
    st.datetimes(min_value=datetime(1899, 12, 30), max_value=datetime(1900, 1, 2)),
    st.datetimes(min_value=datetime(9998, 12, 30), max_value=datetime(9999, 1, 2)),
    st.datetimes(),
)
date_times = st.tuples(wall_times, offsets).map(lambda p: p[0].replace(tzinfo=p[1]))


def _in_range(value: datetime) -> bool:
    wall = value.replace(tzinfo=None)
    offset = value.utcoffset()
    try:
        instant = wall if offset is None else wall - offset
    except OverflowError:
        return False
    return EARLIEST <= instant <= LATEST


DATE_ROUTES: dict[str, tuple[str, Callable[[World, str], Any], str]] = {
    "campaign.start_at": ("POST /partner/campaigns",
                          lambda w, t: campaign_body(w, start_at=t), "campaign.start_at"),
    "campaign.end_at": ("POST /partner/campaigns",
                        lambda w, t: campaign_body(w, end_at=t), "campaign.end_at"),
    "campaign.redeemable_from": ("POST /partner/campaigns",
                                 lambda w, t: campaign_body(w, redeemable_from=t),
                                 "campaign.redeemable_from"),
    "campaign.redeemable_to": ("POST /partner/campaigns",
                               lambda w, t: campaign_body(w, redeemable_to=t),
                               "campaign.redeemable_to"),
    "purchase.purchased_at": ("POST /purchases",
                              lambda w, t: purchase_body(w, purchased_at=t),
                              "purchase.purchased_at"),
    "users.updated_after": ("GET /partner/users", lambda w, t: {"updated_after": t},
                            "updated_after"),
    "users.updated_before": ("GET /partner/users", lambda w, t: {"updated_before": t},
                             "updated_before"),
    "feedbacks.updated_after": ("GET /partner/feedbacks", lambda w, t: {"updated_after": t},
                                "updated_after"),
}  # fmt: skip


@pytest.mark.parametrize("route", sorted(DATE_ROUTES))
@PROPERTY
@given(value=date_times)
async def test_date_times_outside_the_wire_range_are_400_naming_the_field(
    client: httpx.AsyncClient, world: World, route: str, value: datetime
) -> None:
    target, build, field = DATE_ROUTES[route]
    method, path = target.split(" ")
    text = value.isoformat()
    headers = world.cred.headers()
    if method == "GET":
        response = await client.get(path, params=build(world, text), headers=headers)
    else:
        response = await send(client, method, path, build(world, text), headers)
    assert response.status_code < 500, response.text
    if not _in_range(value):
        assert_error(response, 400, "VALIDATION_FAILED", field)
        assert "between 1900-01-01T00:00:00Z and 9998-12-31T23:59:59Z" in response.text


async def test_a_far_future_campaign_in_the_merchant_zone_is_created(
    client: httpx.AsyncClient, world: World
) -> None:
    # Naive: read in America/Los_Angeles, 8 h behind UTC, near the top of the range.
    body = campaign_body(world, end_at="9998-12-31T00:00:00", redeemable_to="9998-12-31T00:00:00")
    response = await send(client, "POST", "/partner/campaigns", body, world.cred.headers())
    assert response.status_code == 201, response.text
    assert response.json()["campaign"]["end_at"] == "9998-12-31T08:00:00Z"


# --- Class 3: amounts and balances -----------------------------------------------------------


async def _balance(session: AsyncSession, user_id: str) -> Decimal:
    value = await session.scalar(
        select(Membership.points_balance).where(Membership.user_id == user_id)
    )
    assert value is not None
    return Decimal(value)


amounts = st.one_of(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999999999.99"), places=2),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.sampled_from([Decimal("9999999999.99"), Decimal("10000000000"), Decimal("1e30")]),
)
balances = st.one_of(
    st.decimals(min_value=0, max_value=BALANCE_MAX, places=2),
    st.sampled_from([BALANCE_MAX, BALANCE_MAX - Decimal("0.01"), Decimal("0")]),
)


@PROPERTY
@given(amount=amounts, start=balances)
async def test_a_purchase_never_takes_a_balance_past_the_bound_and_refuses_before_writing(
    client: httpx.AsyncClient, world: World, session: AsyncSession, amount: Decimal, start: Decimal
) -> None:
    await session.execute(
        update(Membership)
        .where(Membership.user_id == world.user_id)
        .values(points_balance=start)
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    purchases_before = await session.scalar(select(func.count()).select_from(Purchase))
    raw = json.dumps(purchase_body(world, amount="AMOUNT")).replace('"AMOUNT"', str(amount))
    response = await client.post(
        "/purchases",
        content=raw,
        headers={**world.cred.headers(), "Content-Type": "application/json"},
    )
    assert response.status_code < 500, response.text
    after = await _balance(session, world.user_id)
    assert after <= BALANCE_MAX
    if response.status_code == 201:
        assert after == start + amount
    else:
        assert after == start
        assert await session.scalar(select(func.count()).select_from(Purchase)) == purchases_before
        if Decimal("0") < amount <= Decimal("9999999999.99") and amount == amount.quantize(
            Decimal("0.01")
        ):
            assert_error(response, 422, "INVALID_STATE", "purchase.amount")
        else:
            assert_error(response, 400, "VALIDATION_FAILED", "purchase.amount")


async def test_a_purchase_at_the_bound_is_accepted_and_one_cent_more_is_refused(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    await session.execute(
        update(Membership)
        .where(Membership.user_id == world.user_id)
        .values(points_balance=BALANCE_MAX - Decimal("10"))
        .execution_options(synchronize_session=False)
    )
    ok = await client.post(
        "/purchases", json=purchase_body(world, amount=10), headers=world.cred.headers()
    )
    assert ok.status_code == 201, ok.text
    refused = await client.post(
        "/purchases", json=purchase_body(world, amount=0.01), headers=world.cred.headers()
    )
    assert_error(refused, 422, "INVALID_STATE", "purchase.amount")
    # Every later purchase of the member is refused the same way: never a 500.
    again = await client.post(
        "/purchases", json=purchase_body(world, amount=1), headers=world.cred.headers()
    )
    assert_error(again, 422, "INVALID_STATE", "purchase.amount")
    user = await client.get(f"/partner/users/{world.user_id}", headers=world.cred.headers())
    assert user.json()["user"]["loyalty"]["points_balance"] == float(BALANCE_MAX)


# --- Class 4: deep JSON ----------------------------------------------------------------------


def _nested(depth: int) -> Any:
    value: Any = "x"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


async def test_json_nested_past_the_limit_is_400_on_every_route_that_takes_a_body(
    client: httpx.AsyncClient, world: World, app: Any
) -> None:
    routes = [
        (method, r.path.replace("{id}", world.feedback_id).replace("{reward_id}", "r1"))
        for r in app.routes
        for method in getattr(r, "methods", ()) or ()
        if method in {"POST", "PUT", "PATCH", "DELETE"}
    ]
    assert len(routes) >= 15
    deep = b"[" * 1000 + b"]" * 1000  # about 2 KB
    for method, path in routes:
        response = await client.request(
            method, path, content=deep,
            headers={**world.cred.headers(), "Content-Type": "application/json"},
        )  # fmt: skip
        if path.startswith("/console/"):  # the console's errors are pages (console/handlers.py)
            assert response.status_code == 400, (path, response.text)
            assert "VALIDATION_FAILED" in response.text, path
            assert f"nested deeper than {MAX_DEPTH}" in response.text, path
            continue
        assert_error(response, 400, "VALIDATION_FAILED", f"nested deeper than {MAX_DEPTH}")


@pytest.mark.parametrize("route", sorted(TEXT_ROUTES))
@PROPERTY
@given(depth=st.integers(0, 80))
async def test_nesting_within_the_limit_is_parsed_and_past_it_is_refused(
    client: httpx.AsyncClient, world: World, route: str, depth: int
) -> None:
    method, path, build, _field = TEXT_ROUTES[route]
    body = build(world, "placeholder")
    raw = json.dumps(body).replace('"placeholder"', json.dumps(_nested(depth)))
    response = await client.request(
        method, path(world), content=raw.encode(),
        headers={**world.cred.headers(), "Content-Type": "application/json"},
    )  # fmt: skip
    assert response.status_code < 500, response.text
    total = _depth(json.loads(raw))
    if total > MAX_DEPTH:
        assert_error(response, 400, "VALIDATION_FAILED", "nested deeper than")
    else:
        assert "nested deeper than" not in response.text


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


async def test_a_user_with_a_valid_name_is_unchanged_by_the_guard(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    response = await send(
        client, "PATCH", f"/partner/users/{world.user_id}", {"user": {"first_name": "Zoë"}},
        world.cred.headers(),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    name = await session.scalar(select(User.first_name).where(User.id == world.user_id))
    assert name == "Zoë"


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.text(alphabet=st.sampled_from('[]{}"\\ab\x00\u00e9'), max_size=6),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.text(alphabet=st.sampled_from('[]{}"\\k'), max_size=3), children,
                        max_size=3),
    ),
    max_leaves=60,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(value=json_values, wrap=st.integers(0, 40), indent=st.sampled_from([None, 2]))
def test_the_depth_rule_counts_exactly_what_json_nests(
    value: Any, wrap: int, indent: int | None
) -> None:
    """The byte-level depth count agrees with the parsed document's depth, whatever brackets,
    quotes and backslashes the strings hold."""
    for _ in range(wrap):
        value = [value]
    raw = json.dumps(value, indent=indent).encode()
    refused = body_problem(raw)
    too_deep = refused is not None and "nested deeper" in refused
    assert too_deep == (_depth(value) > MAX_DEPTH), raw[:200]
