"""Demo data that looks real, and reaches the issue 16 surface with the demo credential."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from sqlalchemy import select

from tests.cli import Cli
from thanx_server.kit.db import create_engine
from thanx_server.kit.time import utcnow
from thanx_server.models import Feedback, Membership, RewardTemplate


async def test_demo_has_points_promotions_images_and_varied_dates(
    cli: Cli, cli_client: httpx.AsyncClient, fresh_db_url: str
) -> None:
    demo = await cli.json("demo")
    headers = {"Authorization": f"Bearer {demo['access_token']}", "X-ClientId": demo["client_id"]}

    experiences = (await cli_client.get("/points_experiences", headers=headers)).json()
    assert sorted(e["name"] for e in experiences["points_experiences"]) == [
        "Bean Rewards", "Pizza Points"
    ]  # fmt: skip
    products = (await cli_client.get("/points_products", headers=headers)).json()
    assert len(products["points_products"]) == 4
    promotions = (await cli_client.get("/partner/promotions", headers=headers)).json()
    assert [p["code_count"] for p in promotions["promotions"]] == [50, 50]
    promotion = promotions["promotions"][0]
    codes = await cli_client.get(
        f"/partner/promotions/{promotion['id']}/codes", params={"per_page": 100}, headers=headers
    )
    assert len(codes.json()["promotion_codes"]) == 50

    # Every template image is served by the server itself.
    image = experiences["points_experiences"][0]["images"]["index"]["small"]
    assert image.startswith("http://127.0.0.1:8000/static/images/")
    served = await cli_client.get(image.removeprefix("http://127.0.0.1:8000"))
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/svg+xml"
    assert served.content.startswith(b"<svg")

    engine = create_engine(fresh_db_url)
    try:
        async with engine.connect() as conn:
            joined = list((await conn.execute(select(Membership.joined_at))).scalars())
            images = list((await conn.execute(select(RewardTemplate.images))).scalars())
            texts = (
                await conn.execute(select(RewardTemplate.fine_print, RewardTemplate.instructions))
            ).all()
            steps = (await conn.execute(select(Feedback.viewed_at, Feedback.rated_at))).all()
    finally:
        await engine.dispose()
    now = utcnow()
    ages = {(now - _aware(j)).days for j in joined}
    assert max(ages) > 365
    assert len(ages) >= 5  # joined on different days, not all today
    assert all(i["index"]["small"].endswith("-small.svg") for i in images)
    assert len({t.fine_print for t in texts}) == len({t.instructions for t in texts}) == len(texts)
    spread = [(v, r) for v, r in steps if v is not None and r is not None]
    assert spread
    assert all(_aware(r) - _aware(v) > timedelta(minutes=1) for v, r in spread)

    again = await cli.json("demo")
    assert again["created"] == 0


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=utcnow().tzinfo)


async def test_static_images_are_generated_and_unknown_ones_are_404(
    client: httpx.AsyncClient,
) -> None:
    first = await client.get("/static/images/free-slice-large.svg")
    second = await client.get("/static/images/free-slice-large.svg")
    assert first.status_code == 200
    assert first.content == second.content
    assert b'width="1000"' in first.content
    for bad in ("free-slice.svg", "free-slice-huge.svg", "Free-slice-small.svg", "x-small.png"):
        response = await client.get(f"/static/images/{bad}")
        assert response.status_code == 404, bad
        assert response.json()["error"]["code"] == "RESOURCE_NOT_FOUND"


async def test_a_demo_partner_from_older_demo_data_is_granted_new_scopes(
    cli: Cli, cli_client: httpx.AsyncClient, fresh_db_url: str
) -> None:
    from sqlalchemy import update

    from thanx_server.models import PartnerCredential

    demo = await cli.json("demo")
    engine = create_engine(fresh_db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                update(PartnerCredential)
                .where(PartnerCredential.client_id == demo["client_id"])
                .values(scopes=["users.read"])
            )
    finally:
        await engine.dispose()
    again = await cli.json("demo")
    assert again["created"] == 1  # the scopes, nothing else
    headers = {"Authorization": f"Bearer {demo['access_token']}", "X-ClientId": demo["client_id"]}
    scopes = (await cli_client.get("/partner/scopes", headers=headers)).json()["scopes"]
    assert {"promos.read", "promos.write", "users.read"} <= set(scopes)
