"""GET /partner/feedbacks, respond (both paths), and the sandbox customer endpoints."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests.factories import Credential, Factory, assert_error
from thanx_server.feedback import repository as feedback_repository
from thanx_server.kit.ids import new_ids
from thanx_server.kit.pagination import Page
from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.time import isoformat_z, utcnow
from thanx_server.models import Feedback, Merchant, Purchase, User
from thanx_server.settings import Environment, Settings

STATES = ["unviewed", "viewed", "expired", "rated", "reviewed", "responded"]
RESPOND_PATHS = ["/partner/feedbacks/{id}/respond", "/partner/feedbacks/{id}/response"]


@pytest.fixture
async def merchant(factory: Factory) -> Merchant:
    return await factory.merchant()


@pytest.fixture
async def member(factory: Factory, merchant: Merchant) -> User:
    return (await factory.member(merchant))[0]


@pytest.fixture
async def cred(factory: Factory, merchant: Merchant) -> Credential:
    return await factory.partner([merchant], scopes=["feedbacks.read", "feedbacks.write"])


async def listed(
    client: httpx.AsyncClient, cred: Credential, query: str = ""
) -> list[dict[str, Any]]:
    response = await client.get(f"/partner/feedbacks?{query}", headers=cred.headers())
    assert response.status_code == 200, response.text
    feedbacks: list[dict[str, Any]] = response.json()["feedbacks"]
    return feedbacks


async def one_in_each_state(factory: Factory, merchant: Merchant, user: User) -> dict[str, str]:
    return {state: await factory.feedback(merchant, user, state) for state in STATES}


async def test_each_state_reads_as_documented_with_its_timestamps(
    client: httpx.AsyncClient, factory: Factory, cred: Credential, merchant: Merchant,
    member: User,
) -> None:  # fmt: skip
    ids = await one_in_each_state(factory, merchant, member)

    by_id = {f["id"]: f for f in await listed(client, cred)}

    for state, feedback_id in ids.items():
        assert by_id[feedback_id]["state"] == state
    assert by_id[ids["unviewed"]]["viewed_at"] is None
    assert by_id[ids["viewed"]]["viewed_at"] is not None
    rated = by_id[ids["rated"]]
    assert (rated["rating"], rated["review"], rated["response"]) == (9, None, None)
    reviewed = by_id[ids["reviewed"]]
    assert reviewed["review"] == "Great crust"
    assert reviewed["reviewed_at"].endswith("Z")
    responded = by_id[ids["responded"]]
    assert responded["response"] == "Thank you!"
    assert responded["responded_at"].endswith("Z")
    expired = by_id[ids["expired"]]
    # Expiry is a change the partner can sync on: updated_at is when it happened.
    assert expired["updated_at"] == expired["expires_at"]
    assert set(responded) >= {
        "id", "user_id", "merchant_id", "location_id", "state", "expires_at", "purchased_at",
        "viewed_at", "rated_at", "reviewed_at", "responded_at", "rating", "review", "response",
        "purchase", "updated_at",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("states[]=expired", ["expired"]),
        ("states[]=unviewed&states[]=viewed", ["unviewed", "viewed"]),
        ("states=rated&states=responded", ["rated", "responded"]),
        ("states[]=reviewed", ["reviewed"]),
        ("", STATES),
    ],
)
async def test_states_filter_uses_the_state_as_read(
    client: httpx.AsyncClient, factory: Factory, cred: Credential, merchant: Merchant,
    member: User, query: str, expected: list[str],
) -> None:  # fmt: skip
    ids = await one_in_each_state(factory, merchant, member)

    found = await listed(client, cred, f"per_page=100&{query}")

    assert sorted(f["id"] for f in found) == sorted(ids[s] for s in expected)


async def test_a_record_expires_when_its_window_passes_without_a_rating(
    client: httpx.AsyncClient, factory: Factory, cred: Credential, merchant: Merchant,
    member: User, session: AsyncSession,
) -> None:  # fmt: skip
    feedback_id = await factory.feedback(merchant, member, "viewed")
    rated_id = await factory.feedback(merchant, member, "rated")
    # Time passes: both windows close.
    for record in await session.scalars(select(Feedback)):
        record.expires_at = utcnow() - timedelta(minutes=1)
    await session.flush()

    states = {f["id"]: f["state"] for f in await listed(client, cred)}

    assert states == {feedback_id: "expired", rated_id: "rated"}


async def test_list_filters_by_user_location_merchant_and_updated_after(
    client: httpx.AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    a, b = await factory.merchant(), await factory.merchant()
    jane, _ = await factory.member(a)
    sam, _ = await factory.member(a)
    await factory.member(b, email=jane.email, phone=jane.phone)
    loc = await factory.location(a)
    cred = await factory.partner([a, b], scopes=["feedbacks.read"])
    at_loc = await factory.feedback(a, jane, "unviewed", location=loc)
    jane_plain = await factory.feedback(a, jane, "unviewed")
    sams = await factory.feedback(a, sam, "unviewed")
    at_b = await factory.feedback(b, jane, "unviewed")
    old = await session.get(Feedback, sams)
    assert old is not None
    old.updated_at = utcnow() - timedelta(days=2)
    await session.flush()
    since = isoformat_z(utcnow() - timedelta(days=1))

    def ids(items: list[dict[str, Any]]) -> set[str]:
        return {f["id"] for f in items}

    assert ids(await listed(client, cred, f"user_id={jane.id}")) == {at_loc, jane_plain, at_b}
    assert ids(await listed(client, cred, f"location_id={loc.id}")) == {at_loc}
    assert ids(await listed(client, cred, f"merchant_id={b.id}")) == {at_b}
    assert ids(await listed(client, cred, f"updated_after={since}")) == {at_loc, jane_plain, at_b}


async def test_updated_after_counts_expiry_as_the_change(
    client: httpx.AsyncClient, factory: Factory, cred: Credential, merchant: Merchant,
    member: User, session: AsyncSession,
) -> None:  # fmt: skip
    now = utcnow()
    since = now - timedelta(hours=1)
    ids = {name: await factory.feedback(merchant, member, "viewed") for name in (
        "expired_since", "expired_before", "open_touched", "open_untouched")}  # fmt: skip
    times = {  # (expires_at, updated_at)
        "expired_since": (since + timedelta(minutes=30), since - timedelta(days=1)),
        "expired_before": (since - timedelta(minutes=10), now),  # touched, but expired earlier
        "open_touched": (now + timedelta(days=1), now),
        "open_untouched": (now + timedelta(days=1), since - timedelta(days=1)),
    }
    for name, (expires_at, updated_at) in times.items():
        record = await session.get_one(Feedback, ids[name])
        record.expires_at, record.updated_at = expires_at, updated_at
    await session.flush()

    found = await listed(client, cred, f"updated_after={isoformat_z(since)}")

    assert {f["id"] for f in found} == {ids["expired_since"], ids["open_touched"]}


async def test_list_is_newest_first_and_paginated(
    client: httpx.AsyncClient, factory: Factory, cred: Credential, merchant: Merchant,
    member: User, session: AsyncSession,
) -> None:  # fmt: skip
    ids = [await factory.feedback(merchant, member, "unviewed") for _ in range(3)]
    for n, feedback_id in enumerate(ids):
        record = await session.get(Feedback, feedback_id)
        assert record is not None
        record.created_at = utcnow() - timedelta(hours=10 - n)
    await session.flush()

    first = await client.get("/partner/feedbacks?per_page=2", headers=cred.headers())
    second = await listed(client, cred, "per_page=2&page=2")

    assert [f["id"] for f in first.json()["feedbacks"]] == [ids[2], ids[1]]
    assert [f["id"] for f in second] == [ids[0]]
    assert first.json()["pagination"] == {"current_page": 1, "per_page": 2, "total_pages": 2}


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("states[]=happy", "states"),
        ("updated_after=soon", "updated_after"),
        ("per_page=0", "per_page"),
    ],
)
async def test_bad_list_filters_are_400_naming_them(
    client: httpx.AsyncClient, cred: Credential, query: str, names: str
) -> None:
    response = await client.get(f"/partner/feedbacks?{query}", headers=cred.headers())

    assert_error(response, 400, "VALIDATION_FAILED", names)


async def test_another_merchants_feedback_is_invisible_and_404_by_id(
    client: httpx.AsyncClient, factory: Factory, cred: Credential, merchant: Merchant
) -> None:
    other = await factory.merchant()
    stranger, _ = await factory.member(other)
    theirs = await factory.feedback(other, stranger, "rated")

    seen = await listed(client, cred)
    respond = await client.post(
        f"/partner/feedbacks/{theirs}/respond",
        json={"feedback": {"response": "Hi"}},
        headers=cred.headers(),
    )
    foreign = await client.get(f"/partner/feedbacks?merchant_id={other.id}", headers=cred.headers())

    assert seen == []
    assert_error(respond, 404, "RESOURCE_NOT_FOUND")
    assert_error(foreign, 403, "FORBIDDEN", "merchant_id")


@pytest.mark.parametrize("path", RESPOND_PATHS)
@pytest.mark.parametrize("state", ["rated", "reviewed"])
async def test_responding_stores_the_text_and_marks_it_responded(
    client: httpx.AsyncClient, factory: Factory, cred: Credential, merchant: Merchant,
    member: User, path: str, state: str,
) -> None:  # fmt: skip
    feedback_id = await factory.feedback(merchant, member, state)

    response = await client.post(
        path.format(id=feedback_id),
        json={"feedback": {"response": "  Thanks for coming in!  "}},
        headers=cred.headers(),
    )

    assert response.status_code == 200, response.text
    feedback = response.json()["feedback"]
    assert feedback["state"] == "responded"
    assert feedback["response"] == "Thanks for coming in!"
    assert feedback["responded_at"].endswith("Z")
    [stored] = await listed(client, cred)
    assert stored == feedback


@pytest.mark.parametrize("path", RESPOND_PATHS)
async def test_a_second_response_is_422_and_keeps_the_first(
    client: httpx.AsyncClient, factory: Factory, cred: Credential, merchant: Merchant,
    member: User, path: str,
) -> None:  # fmt: skip
    feedback_id = await factory.feedback(merchant, member, "responded")

    again = await client.post(
        path.format(id=feedback_id),
        json={"feedback": {"response": "Another"}},
        headers=cred.headers(),
    )

    assert_error(again, 422, "INVALID_STATE", "one")
    [stored] = await listed(client, cred)
    assert stored["response"] == "Thank you!"


@pytest.mark.parametrize("state", ["unviewed", "viewed", "expired"])
async def test_records_without_a_rating_cannot_be_answered(
    client: httpx.AsyncClient, factory: Factory, cred: Credential, merchant: Merchant,
    member: User, state: str,
) -> None:  # fmt: skip
    feedback_id = await factory.feedback(merchant, member, state)

    response = await client.post(
        f"/partner/feedbacks/{feedback_id}/respond",
        json={"feedback": {"response": "Hello"}},
        headers=cred.headers(),
    )

    assert_error(response, 422, "INVALID_STATE", state)
    [stored] = await listed(client, cred)
    assert (stored["state"], stored["response"]) == (state, None)


@pytest.mark.parametrize(
    ("payload", "names"),
    [
        ({"feedback": {"response": "   "}}, "feedback.response"),
        ({"feedback": {"response": "x" * 2001}}, "feedback.response"),
        ({"feedback": {"response": 5}}, "feedback.response"),
        ({"feedback": {}}, "feedback.response"),
        ({"response": "Hi"}, "feedback"),
    ],
)
async def test_bad_responses_are_400_naming_the_field(
    client: httpx.AsyncClient, factory: Factory, cred: Credential, merchant: Merchant,
    member: User, payload: dict[str, Any], names: str,
) -> None:  # fmt: skip
    feedback_id = await factory.feedback(merchant, member, "rated")

    response = await client.post(
        f"/partner/feedbacks/{feedback_id}/respond", json=payload, headers=cred.headers()
    )

    assert_error(response, 400, "VALIDATION_FAILED", names)
    [stored] = await listed(client, cred)
    assert stored["state"] == "rated"


async def test_unknown_feedback_is_404(client: httpx.AsyncClient, cred: Credential) -> None:
    response = await client.post(
        "/partner/feedbacks/nope/respond", json={"feedback": {"response": "Hi"}},
        headers=cred.headers(),
    )  # fmt: skip

    assert_error(response, 404, "RESOURCE_NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path", "scopes", "needed"),
    [
        ("GET", "/partner/feedbacks", ["feedbacks.write", "users.read"], "feedbacks.read"),
        ("POST", "/partner/feedbacks/x/respond", ["feedbacks.read"], "feedbacks.write"),
        ("POST", "/partner/feedbacks/x/response", ["feedbacks.read"], "feedbacks.write"),
        ("POST", "/sandbox/feedbacks/x/view", ["feedbacks.read"], "feedbacks.write"),
        ("POST", "/sandbox/feedbacks/x/rate", ["feedbacks.read"], "feedbacks.write"),
        ("POST", "/sandbox/feedbacks/x/review", ["feedbacks.read"], "feedbacks.write"),
    ],
)
async def test_feedback_endpoints_need_their_scope(
    client: httpx.AsyncClient, factory: Factory, merchant: Merchant, method: str, path: str,
    scopes: list[str], needed: str,
) -> None:  # fmt: skip
    cred = await factory.partner([merchant], scopes=scopes)
    payload = {"feedback": {"response": "x", "rating": 5, "review": "x"}}

    response = await client.request(
        method, path, json=None if method == "GET" else payload, headers=cred.headers()
    )

    assert_error(response, 403, "FORBIDDEN", needed)


# --- the sandbox customer side ---------------------------------------------------------------


async def sandbox(
    client: httpx.AsyncClient, cred: Credential, feedback_id: str, action: str,
    payload: dict[str, Any] | None = None,
) -> httpx.Response:  # fmt: skip
    return await client.post(
        f"/sandbox/feedbacks/{feedback_id}/{action}", json=payload, headers=cred.headers()
    )


async def test_the_customer_journey_view_rate_review_then_merchant_response(
    client: httpx.AsyncClient, factory: Factory, cred: Credential, merchant: Merchant,
    member: User,
) -> None:  # fmt: skip
    feedback_id = await factory.feedback(merchant, member, "unviewed")

    viewed = await sandbox(client, cred, feedback_id, "view")
    rated = await sandbox(client, cred, feedback_id, "rate", {"feedback": {"rating": 0}})
    reviewed = await sandbox(client, cred, feedback_id, "review", {"feedback": {"review": "Meh"}})
    responded = await client.post(
        f"/partner/feedbacks/{feedback_id}/respond",
        json={"feedback": {"response": "Sorry!"}},
        headers=cred.headers(),
    )

    assert viewed.json()["feedback"]["state"] == "viewed"
    assert rated.json()["feedback"]["state"] == "rated"
    assert rated.json()["feedback"]["rating"] == 0
    assert reviewed.json()["feedback"]["state"] == "reviewed"
    assert reviewed.json()["feedback"]["review"] == "Meh"
    final = responded.json()["feedback"]
    assert final["state"] == "responded"
    assert all(final[f] for f in ("viewed_at", "rated_at", "reviewed_at", "responded_at"))


async def test_rating_an_unviewed_record_also_marks_it_viewed(
    client: httpx.AsyncClient, factory: Factory, cred: Credential, merchant: Merchant,
    member: User,
) -> None:  # fmt: skip
    feedback_id = await factory.feedback(merchant, member, "unviewed")

    rated = await sandbox(client, cred, feedback_id, "rate", {"feedback": {"rating": 10}})

    assert rated.json()["feedback"]["viewed_at"] is not None


@pytest.mark.parametrize(
    ("state", "action", "payload"),
    [
        ("viewed", "view", None),
        ("unviewed", "review", {"feedback": {"review": "Too soon"}}),
        ("rated", "rate", {"feedback": {"rating": 3}}),
        ("expired", "view", None),
        ("expired", "rate", {"feedback": {"rating": 3}}),
        ("responded", "review", {"feedback": {"review": "Late"}}),
    ],
)
async def test_customer_steps_out_of_order_are_422(
    client: httpx.AsyncClient, factory: Factory, cred: Credential, merchant: Merchant,
    member: User, state: str, action: str, payload: dict[str, Any] | None,
) -> None:  # fmt: skip
    feedback_id = await factory.feedback(merchant, member, state)

    response = await sandbox(client, cred, feedback_id, action, payload)

    assert_error(response, 422, "INVALID_STATE", state)


@pytest.mark.parametrize(
    ("action", "payload", "names"),
    [
        ("rate", {"feedback": {"rating": 11}}, "feedback.rating"),
        ("rate", {"feedback": {"rating": -1}}, "feedback.rating"),
        ("rate", {"feedback": {"rating": "9"}}, "feedback.rating"),
        ("review", {"feedback": {"review": ""}}, "feedback.review"),
    ],
)
async def test_bad_customer_input_is_400(
    client: httpx.AsyncClient, factory: Factory, cred: Credential, merchant: Merchant,
    member: User, action: str, payload: dict[str, Any], names: str,
) -> None:  # fmt: skip
    feedback_id = await factory.feedback(
        merchant, member, "rated" if action == "review" else "viewed"
    )

    response = await sandbox(client, cred, feedback_id, action, payload)

    assert_error(response, 400, "VALIDATION_FAILED", names)


async def test_sandbox_steps_on_another_merchants_feedback_are_404(
    client: httpx.AsyncClient, factory: Factory, cred: Credential
) -> None:
    other = await factory.merchant()
    stranger, _ = await factory.member(other)
    theirs = await factory.feedback(other, stranger, "unviewed")

    response = await sandbox(client, cred, theirs, "view")

    assert_error(response, 404, "RESOURCE_NOT_FOUND")


@pytest.mark.parametrize(
    ("action", "payload"),
    [("view", None), ("rate", {"feedback": {"rating": 5}}), ("review", {"bad": True})],
)
async def test_sandbox_endpoints_do_not_exist_in_production(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory, cred: Credential,
    merchant: Merchant, member: User, action: str, payload: dict[str, Any] | None,
) -> None:  # fmt: skip
    feedback_id = await factory.feedback(merchant, member, "unviewed")
    app.state.settings = Settings(environment=Environment.PRODUCTION)

    with_credential = await sandbox(client, cred, feedback_id, action, payload)
    without = await client.post(f"/sandbox/feedbacks/{feedback_id}/{action}", json=payload)

    assert_error(with_credential, 404, "RESOURCE_NOT_FOUND")
    assert_error(without, 404, "RESOURCE_NOT_FOUND")
    [stored] = await listed(client, cred)
    assert stored["state"] == "unviewed"


async def test_sandbox_endpoints_need_a_credential_in_a_sandbox(
    client: httpx.AsyncClient, factory: Factory, merchant: Merchant, member: User
) -> None:
    feedback_id = await factory.feedback(merchant, member, "unviewed")

    response = await client.post(f"/sandbox/feedbacks/{feedback_id}/view")

    assert_error(response, 401, "AUTHENTICATION_GENERIC")


async def test_one_merchants_changes_are_counted_from_its_changes_not_all_its_records(
    factory: Factory, session: AsyncSession, engine: AsyncEngine
) -> None:
    """Issue 17 target 4: ``updated_after`` on one merchant reads that merchant's changed (or
    expired) records through ``ix_feedbacks_merchant_updated`` / ``_expires``; its count is
    too narrow to be kept, and reading all the merchant's records made it grow with them
    (SQLite at 1M rows: 128 ms a request, bench/explain). Checked on the plan of the
    statements the list runs, with data where any other index reads far more rows: the
    merchant's 600 old records, another's 600 changed and closing in the window, a third's
    600 old ones."""
    quiet, busy, other = [await factory.merchant() for _ in range(3)]
    user, _ = await factory.member(quiet)
    for merchant in (busy, other):
        await factory.member(merchant, email=user.email, phone=user.phone)
    now = utcnow()
    since = now - timedelta(hours=1)
    rows: dict[str, list[dict[str, Any]]] = {"purchases": [], "feedbacks": []}
    for i in range(1803):
        merchant = (quiet, busy, other)[i % 3]
        recent = merchant is busy or (merchant is quiet and i < 9)  # the quiet one's 3 changes
        at = now - timedelta(seconds=i) if recent else now - timedelta(days=20, minutes=i)
        purchase_id, feedback_id = new_ids(2)
        rows["purchases"].append({
            "id": purchase_id, "merchant_id": merchant.id, "user_id": user.id, "location_id": None,
            "card_id": None, "amount": Decimal("5.00"), "points_earned": Decimal("5.00"),
            "products": ["Pizza"], "purchased_at": at, "created_at": at,
        })  # fmt: skip
        rows["feedbacks"].append({
            "id": feedback_id, "merchant_id": merchant.id, "user_id": user.id,
            "location_id": None, "purchase_id": purchase_id, "state": "rated", "rating": 8,
            # The busy merchant's also close in the window (rated: they do not expire).
            "expires_at": at if merchant is busy else at + timedelta(days=90),
            "rated_at": at, "created_at": at,
            "updated_at": at,
        })  # fmt: skip
    await session.execute(insert(Purchase), rows["purchases"])
    await session.execute(insert(Feedback), rows["feedbacks"])
    await session.execute(text("ANALYZE"))  # as autovacuum / an operator's ANALYZE would
    statements: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, sql: str, params: Any, _ctx: Any, _many: bool) -> None:
        statements.append((sql, params))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        result = await feedback_repository.list_feedbacks(
            session, MerchantScope.one(quiet.id), now=now, user_id=None, location_id=None,
            states=[], updated_after=since, page=Page(),
        )  # fmt: skip
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    assert result.total == 3
    assert len(statements) == 2  # the count, then the page

    count_sql, params = statements[0]
    connection = await session.connection()
    if engine.dialect.name == "postgresql":
        # 1,800 rows fit in a few pages, which PostgreSQL rightly reads whole; among index
        # plans (a large table's), the merchant's two ranges are the cheapest.
        await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        explained = await connection.exec_driver_sql(f"EXPLAIN {count_sql}", params)
    else:
        explained = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {count_sql}", params)
    plan = "\n".join(str(row[-1]) for row in explained)
    assert "ix_feedbacks_merchant_updated" in plan, plan
    assert "ix_feedbacks_merchant_expires" in plan, plan
