"""GET /partner/reward_templates(/{id}): published templates of the credential's merchants."""

from __future__ import annotations

import httpx

from tests.factories import Factory, assert_error


async def test_list_shows_published_templates_of_the_credential_newest_first(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    mine = await factory.merchant()
    other = await factory.merchant()
    first = await factory.template(mine, name="Free Coffee")
    second = await factory.template(mine, name="Free Bagel", discount_type="amount",
                                    discount_value="5")  # fmt: skip
    await factory.template(mine, name="Draft", published=False)
    await factory.template(other, name="Someone else's")
    cred = await factory.partner([mine], scopes=["rewards.issue"])

    response = await client.get("/partner/reward_templates", headers=cred.headers())

    assert response.status_code == 200, response.text
    body = response.json()
    assert [t["id"] for t in body["reward_templates"]] == [second.id, first.id]
    assert body["pagination"] == {"current_page": 1, "per_page": 10, "total_pages": 1}
    coffee = body["reward_templates"][1]
    assert coffee == {
        "id": first.id,
        "merchant_id": mine.id,
        "name": "Free Coffee",
        "type": "discount",
        "subtype": "free_item",
        "description": "One free coffee, any size",
        "fine_print": "Valid at participating locations",
        "discount": {"type": "free_item", "value": None},
        "redemption_venue": "instore",
        "images": {},
    }
    assert body["reward_templates"][0]["discount"] == {"type": "amount", "value": 5.0}


async def test_list_paginates_and_filters_by_merchant(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    a = await factory.merchant()
    b = await factory.merchant()
    for _ in range(3):
        await factory.template(a)
    only_b = await factory.template(b)
    cred = await factory.partner([a, b], scopes=["rewards.issue"])

    page = await client.get(
        "/partner/reward_templates", params={"merchant_id": a.id, "per_page": 2, "page": 2},
        headers=cred.headers(),
    )  # fmt: skip
    assert page.status_code == 200
    assert len(page.json()["reward_templates"]) == 1
    assert page.json()["pagination"] == {"current_page": 2, "per_page": 2, "total_pages": 2}
    filtered = await client.get(
        "/partner/reward_templates", params={"merchant_id": b.id}, headers=cred.headers()
    )
    assert [t["id"] for t in filtered.json()["reward_templates"]] == [only_b.id]


async def test_list_for_a_merchant_outside_the_credential_is_403(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    mine = await factory.merchant()
    other = await factory.merchant()
    cred = await factory.partner([mine], scopes=["rewards.issue"])
    response = await client.get(
        "/partner/reward_templates", params={"merchant_id": other.id}, headers=cred.headers()
    )
    assert_error(response, 403, "FORBIDDEN")


async def test_get_returns_one_published_template(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    merchant = await factory.merchant()
    template = await factory.template(merchant, name="Free Coffee")
    cred = await factory.partner([merchant], scopes=["rewards.issue"])
    response = await client.get(f"/partner/reward_templates/{template.id}", headers=cred.headers())
    assert response.status_code == 200
    assert response.json()["reward_template"]["name"] == "Free Coffee"
    with_merchant = await client.get(
        f"/partner/reward_templates/{template.id}",
        params={"merchant_id": merchant.id},
        headers=cred.headers(),
    )
    assert with_merchant.json() == response.json()


async def test_get_draft_or_other_merchants_template_is_404(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    mine = await factory.merchant()
    other = await factory.merchant()
    draft = await factory.template(mine, published=False)
    theirs = await factory.template(other)
    cred = await factory.partner([mine], scopes=["rewards.issue"])
    for template_id in (draft.id, theirs.id, "nosuchtemplate"):
        response = await client.get(
            f"/partner/reward_templates/{template_id}", headers=cred.headers()
        )
        assert_error(response, 404, "RESOURCE_NOT_FOUND")


async def test_templates_need_the_rewards_issue_scope(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    merchant = await factory.merchant()
    template = await factory.template(merchant)
    cred = await factory.partner([merchant], scopes=["users.read"])
    for path in ("/partner/reward_templates", f"/partner/reward_templates/{template.id}"):
        assert_error(await client.get(path, headers=cred.headers()), 403, "FORBIDDEN")
