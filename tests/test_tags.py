"""GET/PUT/DELETE /partner/tags: upsert, limits, selectors, isolation between merchants."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Credential, Factory, assert_error
from thanx_server.models import Merchant, Tag, User


@pytest.fixture
async def merchant(factory: Factory) -> Merchant:
    return await factory.merchant()


@pytest.fixture
async def cred(factory: Factory, merchant: Merchant) -> Credential:
    return await factory.partner([merchant], scopes=["tags.read", "tags.write"])


@pytest.fixture
async def users(factory: Factory, merchant: Merchant) -> list[User]:
    return [(await factory.member(merchant))[0] for _ in range(3)]


async def put_tags(client: httpx.AsyncClient, cred: Credential, **body: Any) -> httpx.Response:
    return await client.put("/partner/tags", json=body, headers=cred.headers())


async def get_tags(client: httpx.AsyncClient, cred: Credential, query: str) -> dict[str, Any]:
    response = await client.get(f"/partner/tags?{query}", headers=cred.headers())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def tag_count(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(Tag)) or 0


async def test_put_creates_the_key_and_get_returns_it(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, users: list[User]
) -> None:
    a, b, _ = users

    response = await put_tags(
        client, cred, merchant_id=merchant.id, user_ids=[a.id, b.id], key="allergens",
        values=["gluten", "soy", "gluten", "dairy"],
    )  # fmt: skip
    body = await get_tags(
        client, cred, f"merchant_id={merchant.id}&user_ids[]={a.id}&user_ids[]={b.id}"
    )

    assert response.status_code == 200
    assert response.json() == {}
    assert {(t["user_id"], t["key"]) for t in body["tags"]} == {
        (a.id, "allergens"), (b.id, "allergens"),
    }  # fmt: skip
    for tag in body["tags"]:
        assert tag["merchant_id"] == merchant.id
        assert tag["values"] == ["gluten", "soy", "dairy"]  # order kept, repeats dropped
        assert isinstance(tag["id"], str)
    assert body["pagination"] == {"current_page": 1, "per_page": 10, "total_pages": 1}


async def test_put_again_replaces_the_values_and_keeps_the_tag(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, users: list[User],
    session: AsyncSession,
) -> None:  # fmt: skip
    a = users[0]
    await put_tags(client, cred, merchant_id=merchant.id, user_ids=[a.id], key="k", values=["x"])
    first = await get_tags(client, cred, f"user_ids={a.id}")

    await put_tags(client, cred, merchant_id=merchant.id, user_ids=[a.id], key="k", values=["y"])
    second = await get_tags(client, cred, f"user_ids={a.id}")

    assert [t["values"] for t in second["tags"]] == [["y"]]
    assert second["tags"][0]["id"] == first["tags"][0]["id"]
    assert await tag_count(session) == 1


async def test_get_filters_by_users_and_key_and_accepts_both_array_spellings(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, users: list[User]
) -> None:
    a, b, c = users
    for key in ("allergens", "thanx-seat"):
        await put_tags(
            client, cred, merchant_id=merchant.id, user_ids=[a.id, b.id, c.id], key=key,
            values=["v"],
        )  # fmt: skip

    brackets = await get_tags(client, cred, f"user_ids[]={a.id}&user_ids[]={b.id}")
    plain = await get_tags(client, cred, f"user_ids={a.id}&user_ids={b.id}")
    keyed = await get_tags(client, cred, f"user_ids[]={c.id}&key=thanx-seat")

    assert {t["user_id"] for t in brackets["tags"]} == {a.id, b.id}
    assert len(brackets["tags"]) == 4
    assert brackets["tags"] == plain["tags"]
    assert [(t["user_id"], t["key"]) for t in keyed["tags"]] == [(c.id, "thanx-seat")]


async def test_get_is_paginated(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, users: list[User]
) -> None:
    a = users[0]
    for n in range(3):
        await put_tags(
            client, cred, merchant_id=merchant.id, user_ids=[a.id], key=f"k{n}", values=[]
        )

    page1 = await get_tags(client, cred, f"user_ids={a.id}&per_page=2")
    page2 = await get_tags(client, cred, f"user_ids={a.id}&per_page=2&page=2")

    assert len(page1["tags"]) == 2
    assert len(page2["tags"]) == 1
    assert page1["pagination"]["total_pages"] == 2
    keys = [t["key"] for t in page1["tags"] + page2["tags"]]
    assert sorted(keys) == ["k0", "k1", "k2"]


async def test_put_500_users_in_one_call(
    client: httpx.AsyncClient, factory: Factory, merchant: Merchant, cred: Credential,
    session: AsyncSession,
) -> None:  # fmt: skip
    # Enrol 500 members directly: building them through the service would dominate the test.
    from thanx_server.models import CommunicationSetting, Membership

    ids = [f"bulk{n:04d}" for n in range(500)]
    session.add_all(User(id=i, email=f"{i}@example.com") for i in ids)
    await session.flush()
    session.add_all(Membership(user_id=i, merchant_id=merchant.id) for i in ids)
    await session.flush()
    session.add_all(CommunicationSetting(user_id=i, merchant_id=merchant.id) for i in ids)
    await session.flush()

    created = await put_tags(
        client, cred, merchant_id=merchant.id, user_ids=ids, key="vip", values=["yes"]
    )
    replaced = await put_tags(
        client, cred, merchant_id=merchant.id, user_ids=ids, key="vip", values=["no"]
    )

    assert created.status_code == 200, created.text
    assert replaced.status_code == 200, replaced.text
    assert await tag_count(session) == 500
    stored = await session.scalars(select(Tag.values).execution_options(populate_existing=True))
    assert {tuple(values) for values in stored} == {("no",)}


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"user_ids": [f"u{n}" for n in range(501)]}, "user_ids"),
        ({"user_ids": []}, "user_ids"),
        ({"values": [str(n) for n in range(51)]}, "values"),
        ({"values": ["ok", 3]}, "values[1]"),
        ({"values": ["x" * 256]}, "values[0]"),
        ({"values": "gluten"}, "values"),
        ({"key": ""}, "key"),
        ({"key": "   "}, "key"),
        ({"key": "k" * 101}, "key"),
        ({"key": None}, "key"),
        ({"merchant_id": None}, "merchant_id"),
    ],
)
async def test_put_limits_and_bad_input_are_400_naming_the_field_and_write_nothing(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, users: list[User],
    session: AsyncSession, change: dict[str, Any], names: str,
) -> None:  # fmt: skip
    body = {"merchant_id": merchant.id, "user_ids": [users[0].id], "key": "k", "values": ["v"]}
    body.update(change)

    response = await put_tags(client, cred, **body)

    assert_error(response, 400, "VALIDATION_FAILED", names)
    assert await tag_count(session) == 0


async def test_get_needs_user_ids_and_at_most_500(
    client: httpx.AsyncClient, cred: Credential
) -> None:
    missing = await client.get("/partner/tags", headers=cred.headers())
    many = "&".join(f"user_ids[]=u{n}" for n in range(501))
    too_many = await client.get(f"/partner/tags?{many}", headers=cred.headers())

    assert_error(missing, 400, "VALIDATION_FAILED", "user_ids")
    assert_error(too_many, 400, "VALIDATION_FAILED", "user_ids")


async def test_put_for_a_non_member_is_404_and_writes_nothing(
    client: httpx.AsyncClient, factory: Factory, cred: Credential, merchant: Merchant,
    users: list[User], session: AsyncSession,
) -> None:  # fmt: skip
    other = await factory.merchant()
    stranger, _ = await factory.member(other)

    response = await put_tags(
        client, cred, merchant_id=merchant.id, user_ids=[users[0].id, stranger.id], key="k",
        values=["v"],
    )  # fmt: skip

    assert_error(response, 404, "RESOURCE_NOT_FOUND")
    assert await tag_count(session) == 0


async def test_a_merchant_outside_the_credential_is_403(
    client: httpx.AsyncClient, factory: Factory, cred: Credential
) -> None:
    other = await factory.merchant()
    stranger, _ = await factory.member(other)

    put = await put_tags(
        client, cred, merchant_id=other.id, user_ids=[stranger.id], key="k", values=[]
    )
    get = await client.get(
        f"/partner/tags?merchant_id={other.id}&user_ids={stranger.id}", headers=cred.headers()
    )

    assert_error(put, 403, "FORBIDDEN", "merchant_id")
    assert_error(get, 403, "FORBIDDEN", "merchant_id")


async def test_tags_are_shared_by_the_merchants_partners_and_hidden_from_others(
    client: httpx.AsyncClient, factory: Factory, cred: Credential, merchant: Merchant,
    users: list[User],
) -> None:  # fmt: skip
    a = users[0]
    other = await factory.merchant()
    # The same person is also a member elsewhere, with a tag there.
    await factory.member(other, email=a.email, phone=a.phone)
    colleague = await factory.partner([merchant], scopes=["tags.read"])
    outsider = await factory.partner([other], scopes=["tags.read", "tags.write"])
    await put_tags(client, cred, merchant_id=merchant.id, user_ids=[a.id], key="mine", values=[])
    await put_tags(client, outsider, merchant_id=other.id, user_ids=[a.id], key="theirs", values=[])

    seen_by_colleague = await get_tags(client, colleague, f"user_ids={a.id}")
    seen_by_outsider = await get_tags(client, outsider, f"user_ids={a.id}")

    assert [t["key"] for t in seen_by_colleague["tags"]] == ["mine"]
    assert [t["key"] for t in seen_by_outsider["tags"]] == ["theirs"]


async def test_delete_removes_the_key_for_those_users_only(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, users: list[User]
) -> None:
    a, b, c = users
    ids = [a.id, b.id, c.id]
    for key in ("k1", "k2"):
        await put_tags(client, cred, merchant_id=merchant.id, user_ids=ids, key=key, values=[])

    by_body = await client.request(
        "DELETE",
        "/partner/tags",
        json={"merchant_id": merchant.id, "user_ids": [a.id], "key": "k1"},
        headers=cred.headers(),
    )
    by_query = await client.delete(
        f"/partner/tags?merchant_id={merchant.id}&user_ids[]={b.id}&key=k1",
        headers=cred.headers(),
    )
    left = await get_tags(client, cred, f"user_ids={a.id}&user_ids={b.id}&user_ids={c.id}")

    assert by_body.status_code == 200, by_body.text
    assert by_body.json() == {}
    assert by_query.status_code == 200, by_query.text
    assert sorted((t["user_id"], t["key"]) for t in left["tags"]) == sorted(
        [(a.id, "k2"), (b.id, "k2"), (c.id, "k1"), (c.id, "k2")]
    )


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("user_ids=u1&key=k", "merchant_id"),
        ("merchant_id={m}&user_ids=u1", "key"),
        ("merchant_id={m}&key=k", "user_ids"),
    ],
)
async def test_delete_needs_the_whole_selector(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, query: str, names: str
) -> None:
    response = await client.delete(
        f"/partner/tags?{query.format(m=merchant.id)}", headers=cred.headers()
    )

    assert_error(response, 400, "VALIDATION_FAILED", names)


async def test_delete_of_another_merchants_user_is_404(
    client: httpx.AsyncClient, factory: Factory, cred: Credential, merchant: Merchant
) -> None:
    stranger, _ = await factory.member(await factory.merchant())

    response = await client.request(
        "DELETE",
        "/partner/tags",
        json={"merchant_id": merchant.id, "user_ids": [stranger.id], "key": "k"},
        headers=cred.headers(),
    )

    assert_error(response, 404, "RESOURCE_NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "scopes", "needed"),
    [
        ("GET", ["tags.write", "users.read"], "tags.read"),
        ("PUT", ["tags.read", "users.write"], "tags.write"),
        ("DELETE", ["tags.read", "users.write"], "tags.write"),
    ],
)
async def test_tags_need_their_scope(
    client: httpx.AsyncClient, factory: Factory, merchant: Merchant, users: list[User],
    method: str, scopes: list[str], needed: str,
) -> None:  # fmt: skip
    cred = await factory.partner([merchant], scopes=scopes)
    body = {"merchant_id": merchant.id, "user_ids": [users[0].id], "key": "k", "values": []}

    response = await client.request(
        method,
        f"/partner/tags?user_ids={users[0].id}",
        json=None if method == "GET" else body,
        headers=cred.headers(),
    )

    assert_error(response, 403, "FORBIDDEN", needed)
