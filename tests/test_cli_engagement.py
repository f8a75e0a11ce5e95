"""The admin feedback commands and the engagement demo data, through the CLI in this process."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from tests.cli import Cli
from thanx_server.kit.db import create_engine
from thanx_server.models import Subscriber


async def test_admin_feedback_commands_walk_a_record_through_the_customer_states(
    cli: Cli,
) -> None:
    await cli.json("demo")
    [fresh] = await cli.json("admin", "feedback", "list", "--state", "unviewed")
    fid = fresh["id"]

    viewed = await cli.json("admin", "feedback", "view", "--id", fid)
    rated = await cli.json("admin", "feedback", "rate", "--id", fid, "--rating", "7")
    reviewed = await cli.json("admin", "feedback", "review", "--id", fid, "--text", "Tasty")
    again = await cli("admin", "feedback", "rate", "--id", fid, "--rating", "3", ok=False)

    assert viewed["state"] == "viewed"
    assert (rated["state"], rated["rating"]) == ("rated", 7)
    assert (reviewed["state"], reviewed["review"]) == ("reviewed", "Tasty")
    assert again.exit_code == 1
    assert again.stderr.startswith("error: ")
    assert "reviewed" in again.stderr
    listed = await cli.json("admin", "feedback", "list", "--state", "reviewed")
    assert fid in {f["id"] for f in listed}


async def test_admin_feedback_steps_are_refused_outside_a_sandbox(cli: Cli) -> None:
    await cli.json("demo")
    [fresh] = await cli.json("admin", "feedback", "list", "--state", "unviewed")

    refused = await cli(
        "admin", "feedback", "view", "--id", fresh["id"], ok=False,
        env={"THANX_ENVIRONMENT": "production"},
    )  # fmt: skip

    assert refused.exit_code == 1
    assert "sandbox" in refused.stderr
    [still] = await cli.json("admin", "feedback", "list", "--state", "unviewed")
    assert still["id"] == fresh["id"]


async def test_demo_data_has_subscribers_tags_purchases_and_feedback_in_every_state(
    cli: Cli, cli_client: httpx.AsyncClient, fresh_db_url: str
) -> None:
    demo = await cli.json("demo")
    merchants = demo["merchants"]
    headers = {"Authorization": f"Bearer {demo['access_token']}", "X-ClientId": demo["client_id"]}

    listed = await cli_client.get("/partner/feedbacks", params={"per_page": 100}, headers=headers)
    feedbacks = listed.json()["feedbacks"]
    [jane] = (
        await cli_client.get(
            "/partner/users",
            params={"email": "jane.smith@example.com", "merchant_id": merchants["pizzatown"]},
            headers=headers,
        )
    ).json()["users"]
    tags = (
        await cli_client.get("/partner/tags", params={"user_ids": jane["id"]}, headers=headers)
    ).json()["tags"]
    # Subscribers have no read endpoint (POST only, and it answers 201 for any valid email):
    # only the database can tell whether the demo wrote them.
    engine = create_engine(fresh_db_url)
    try:
        async with engine.connect() as conn:
            subscribed = set((await conn.execute(select(Subscriber.merchant_id))).scalars())
    finally:
        await engine.dispose()

    assert sorted(f["state"] for f in feedbacks) == sorted(
        ["unviewed", "viewed", "expired", "rated", "reviewed", "responded"]
    )
    assert all(f["purchase"]["id"] and f["purchase"]["amount"] > 0 for f in feedbacks)
    assert {t["key"] for t in tags} == {"allergens", "favorite-drink"}
    assert subscribed == set(merchants.values())
