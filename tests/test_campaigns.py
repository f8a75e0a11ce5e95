"""POST/GET /partner/campaigns and GET /partner/campaigns/{id} (CONTRACT row 12)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import Credential, Factory, assert_error
from thanx_server.models import Merchant, RewardTemplate


def body(merchant_id: str, template_id: str, **overrides: Any) -> dict[str, Any]:
    campaign: dict[str, Any] = {
        "merchant_id": merchant_id,
        "name": "Summer Free Coffee",
        "objective": "Re-engage lapsed customers",
        "fine_print": "Limit one per customer",
        "start_at": "2030-06-01T00:00:00Z",
        "end_at": "2030-08-31T23:59:59Z",
        "redeemable_from": "2030-06-01T00:00:00Z",
        "redeemable_to": "2030-09-30T23:59:59Z",
        "variants": [
            {"name": "Treatment", "reward_template_id": template_id},
            {"name": "Control"},
        ],
    }
    campaign.update(overrides)
    return {"campaign": campaign}


@pytest.fixture
async def setup(factory: Factory) -> tuple[Merchant, RewardTemplate, Credential]:
    merchant = await factory.merchant(time_zone="America/New_York")
    template = await factory.template(merchant)
    cred = await factory.partner([merchant], scopes=["rewards.issue"])
    return merchant, template, cred


async def test_create_answers_201_with_ids_zone_and_state(
    client: httpx.AsyncClient, setup: tuple[Merchant, RewardTemplate, Credential]
) -> None:
    merchant, template, cred = setup
    response = await client.post(
        "/partner/campaigns", json=body(merchant.id, template.id), headers=cred.headers()
    )
    assert response.status_code == 201, response.text
    campaign = response.json()["campaign"]
    assert campaign["merchant_id"] == merchant.id
    assert campaign["time_zone"] == "America/New_York"
    assert campaign["state"] == "scheduled"
    assert campaign["start_at"] == "2030-06-01T00:00:00Z"
    assert campaign["redeemable_to"] == "2030-09-30T23:59:59Z"
    assert campaign["fine_print"] == "Limit one per customer"
    assert [(v["name"], v["reward_template_id"]) for v in campaign["variants"]] == [
        ("Treatment", template.id),
        ("Control", None),
    ]
    assert all(v["id"].isalnum() and v["id"].islower() for v in campaign["variants"])
    fetched = await client.get(f"/partner/campaigns/{campaign['id']}", headers=cred.headers())
    assert fetched.status_code == 200
    assert fetched.json() == {"campaign": campaign}


async def test_create_accepts_equal_dates_as_in_the_seed_example(
    client: httpx.AsyncClient, setup: tuple[Merchant, RewardTemplate, Credential]
) -> None:
    merchant, template, cred = setup
    same = "2030-06-01T18:02:05Z"
    response = await client.post(
        "/partner/campaigns",
        json=body(merchant.id, template.id, start_at=same, end_at=same, redeemable_from=same,
                  redeemable_to=same, variants=[{"name": "Pizza Town Co",
                                                 "reward_template_id": template.id}]),
        headers=cred.headers(),
    )  # fmt: skip
    assert response.status_code == 201, response.text


async def test_times_without_offset_are_read_in_the_merchants_zone(
    client: httpx.AsyncClient, setup: tuple[Merchant, RewardTemplate, Credential]
) -> None:
    merchant, template, cred = setup
    response = await client.post(
        "/partner/campaigns",
        json=body(merchant.id, template.id, start_at="2030-06-01T00:00:00"),
        headers=cred.headers(),
    )
    assert response.status_code == 201, response.text
    assert response.json()["campaign"]["start_at"] == "2030-06-01T04:00:00Z"  # EDT is UTC-4


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"variants": []}, "campaign.variants"),
        ({"variants": [{"name": f"V{i}", "reward_template_id": "T"} for i in range(5)]},
         "campaign.variants"),
        ({"variants": None}, "campaign.variants"),
        ({"name": ""}, "campaign.name"),
        ({"name": "   "}, "campaign.name"),
        ({"start_at": "not a date"}, "campaign.start_at"),
        ({"end_at": "2030-05-31T23:59:59Z"}, "campaign.end_at"),
        ({"redeemable_to": "2030-05-31T00:00:00Z"}, "campaign.redeemable_to"),
        ({"variants": [{"name": "Treatment"}]}, "campaign.variants[0].reward_template_id"),
        ({"variants": [{"name": "A", "reward_template_id": "TPL"},
                       {"name": "Control", "reward_template_id": "TPL"}]},
         "campaign.variants[1].reward_template_id"),
        ({"variants": [{"name": "A", "reward_template_id": "TPL"},
                       {"name": "B", "reward_template_id": "nosuchtemplate"}]},
         "campaign.variants[1].reward_template_id"),
        ({"variants": [{"name": "A", "reward_template_id": "TPL"},
                       {"name": "a", "reward_template_id": "TPL"}]},
         "campaign.variants[1].name"),
        ({"variants": [{"name": "Control"}]}, "campaign.variants"),
        ({"variants": [{"reward_template_id": "TPL"}]}, "campaign.variants[0].name"),
    ],
)  # fmt: skip
async def test_each_invalid_campaign_is_400_naming_the_field(
    client: httpx.AsyncClient,
    setup: tuple[Merchant, RewardTemplate, Credential],
    overrides: dict[str, Any],
    field: str,
) -> None:
    merchant, template, cred = setup
    payload = body(merchant.id, template.id)
    for key, value in overrides.items():
        if key == "variants" and value is not None:
            value = [
                {k: (template.id if v == "TPL" else v) for k, v in variant.items()}
                for variant in value
            ]
        if value is None:
            del payload["campaign"][key]
        else:
            payload["campaign"][key] = value
    response = await client.post("/partner/campaigns", json=payload, headers=cred.headers())
    assert_error(response, 400, "VALIDATION_FAILED")
    assert response.json()["error"]["message"].startswith(f"{field}:"), response.text


async def test_draft_or_other_merchants_template_is_refused(
    client: httpx.AsyncClient, factory: Factory, setup: tuple[Merchant, RewardTemplate, Credential]
) -> None:
    merchant, template, cred = setup
    draft = await factory.template(merchant, published=False)
    other = await factory.template(await factory.merchant())
    for bad in (draft.id, other.id):
        payload = body(merchant.id, template.id, variants=[
            {"name": "A", "reward_template_id": template.id},
            {"name": "B", "reward_template_id": bad},
        ])  # fmt: skip
        response = await client.post("/partner/campaigns", json=payload, headers=cred.headers())
        assert_error(response, 400, "VALIDATION_FAILED")
        assert "campaign.variants[1].reward_template_id:" in response.json()["error"]["message"]


async def test_create_for_a_merchant_outside_the_credential_is_403(
    client: httpx.AsyncClient, factory: Factory, setup: tuple[Merchant, RewardTemplate, Credential]
) -> None:
    _, template, cred = setup
    other = await factory.merchant()
    response = await client.post(
        "/partner/campaigns", json=body(other.id, template.id), headers=cred.headers()
    )
    assert_error(response, 403, "FORBIDDEN")


async def test_list_shows_partner_campaigns_newest_first_with_derived_state(
    client: httpx.AsyncClient, factory: Factory, setup: tuple[Merchant, RewardTemplate, Credential]
) -> None:
    merchant, template, cred = setup
    now = datetime.now(UTC)
    ended = await factory.campaign(merchant, template=template, partner_id=cred.partner_id,
                                   start_at=now - timedelta(days=9),
                                   end_at=now - timedelta(days=1))  # fmt: skip
    active = await factory.campaign(merchant, template=template, partner_id=cred.partner_id)
    scheduled = await factory.campaign(merchant, template=template, partner_id=cred.partner_id,
                                       start_at=now + timedelta(days=1),
                                       end_at=now + timedelta(days=9))  # fmt: skip
    await factory.campaign(merchant, template=template)  # made by the operator: not listed
    await factory.campaign(await factory.merchant(), partner_id=cred.partner_id)  # not in scope

    response = await client.get("/partner/campaigns", headers=cred.headers())
    assert response.status_code == 200, response.text
    listed = [(c["id"], c["state"]) for c in response.json()["campaigns"]]
    assert listed == [
        (scheduled.campaign.id, "scheduled"),
        (active.campaign.id, "active"),
        (ended.campaign.id, "ended"),
    ]
    assert response.json()["pagination"]["total_pages"] == 1

    filtered = await client.get(
        "/partner/campaigns?states[]=active&states[]=scheduled", headers=cred.headers()
    )
    assert [c["id"] for c in filtered.json()["campaigns"]] == [
        scheduled.campaign.id,
        active.campaign.id,
    ]
    plain = await client.get(
        "/partner/campaigns", params={"states": "ended", "merchant_id": merchant.id},
        headers=cred.headers(),
    )  # fmt: skip
    assert [c["id"] for c in plain.json()["campaigns"]] == [ended.campaign.id]


async def test_list_with_an_unknown_state_is_400(
    client: httpx.AsyncClient, setup: tuple[Merchant, RewardTemplate, Credential]
) -> None:
    _, _, cred = setup
    response = await client.get("/partner/campaigns?states[]=archived", headers=cred.headers())
    assert_error(response, 400, "VALIDATION_FAILED")
    assert response.json()["error"]["message"].startswith("states:")


async def test_campaign_of_another_merchant_is_404(
    client: httpx.AsyncClient, factory: Factory, setup: tuple[Merchant, RewardTemplate, Credential]
) -> None:
    _, _, cred = setup
    theirs = await factory.campaign(await factory.merchant())
    response = await client.get(f"/partner/campaigns/{theirs.campaign.id}", headers=cred.headers())
    assert_error(response, 404, "RESOURCE_NOT_FOUND")
    assert_error(
        await client.get("/partner/campaigns/nosuchcampaign", headers=cred.headers()),
        404,
        "RESOURCE_NOT_FOUND",
    )


async def test_campaigns_need_the_rewards_issue_scope(
    client: httpx.AsyncClient, factory: Factory, setup: tuple[Merchant, RewardTemplate, Credential]
) -> None:
    merchant, template, _ = setup
    cred = await factory.partner([merchant], scopes=["users.read"])
    campaign = await factory.campaign(merchant, template=template)
    assert_error(
        await client.post(
            "/partner/campaigns", json=body(merchant.id, template.id), headers=cred.headers()
        ),
        403,
        "FORBIDDEN",
    )
    assert_error(await client.get("/partner/campaigns", headers=cred.headers()), 403, "FORBIDDEN")
    assert_error(
        await client.get(f"/partner/campaigns/{campaign.campaign.id}", headers=cred.headers()),
        403,
        "FORBIDDEN",
    )


def test_openapi_documents_campaign_and_issuance_routes() -> None:
    from thanx_server.app import create_app
    from thanx_server.settings import Settings

    schema = create_app(Settings()).openapi()
    list_params = [p["name"] for p in schema["paths"]["/partner/campaigns"]["get"]["parameters"]]
    assert "states[]" in list_params
    issue = schema["paths"]["/partner/campaigns/issue"]["post"]
    assert "X-Idempotency-Key" in [p["name"] for p in issue["parameters"]]
    assert set(issue["responses"]) >= {"202", "400", "403", "404", "422"}
    summary = schema["components"]["schemas"]["SummaryWithFailures"]
    assert set(summary["required"]) == {"success_count", "failure_count", "failures"}


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    start=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1),
                       timezones=st.just(UTC)),
    length=st.timedeltas(min_value=timedelta(days=-30), max_value=timedelta(days=30)),
    redeem_length=st.timedeltas(min_value=timedelta(days=-30), max_value=timedelta(days=30)),
)  # fmt: skip
async def test_dates_are_accepted_exactly_when_ends_are_not_before_starts(
    client: httpx.AsyncClient,
    setup: tuple[Merchant, RewardTemplate, Credential],
    start: datetime,
    length: timedelta,
    redeem_length: timedelta,
) -> None:
    merchant, template, cred = setup
    payload = body(
        merchant.id, template.id,
        start_at=start.isoformat(), end_at=(start + length).isoformat(),
        redeemable_from=start.isoformat(), redeemable_to=(start + redeem_length).isoformat(),
    )  # fmt: skip
    response = await client.post("/partner/campaigns", json=payload, headers=cred.headers())
    valid = length >= timedelta(0) and redeem_length >= timedelta(0)
    assert response.status_code == (201 if valid else 400), response.text
