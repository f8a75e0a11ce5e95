"""The admin feedback commands and the engagement demo data, through the CLI in this process."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.cli import Cli
from thanx_server.app import create_app
from thanx_server.kit.db import Database, create_engine
from thanx_server.settings import Settings


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
    cli: Cli, fresh_db_url: str, tmp_path: Path
) -> None:
    demo = await cli.json("demo")
    headers = {"Authorization": f"Bearer {demo['access_token']}", "X-ClientId": demo["client_id"]}
    database = Database.from_engine(create_engine(fresh_db_url))
    app = create_app(Settings(data_dir=tmp_path), database=database)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            feedbacks = (
                await client.get("/partner/feedbacks?per_page=100", headers=headers)
            ).json()["feedbacks"]
            users = (
                await client.get(
                    "/partner/users",
                    params={
                        "email": "jane.smith@example.com",
                        "merchant_id": demo["merchants"]["pizzatown"],
                    },
                    headers=headers,
                )
            ).json()["users"]
            tags = (
                await client.get(
                    "/partner/tags", params={"user_ids": users[0]["id"]}, headers=headers
                )
            ).json()["tags"]
            subscribed = await client.post(
                "/partner/subscribers",
                json={
                    "merchant_id": demo["merchants"]["pizzatown"],
                    "subscriber": {"email": "casey.nguyen@example.com"},
                },
                headers=headers,
            )
    finally:
        await database.dispose()

    assert sorted(f["state"] for f in feedbacks) == sorted(
        ["unviewed", "viewed", "expired", "rated", "reviewed", "responded"]
    )
    assert {t["key"] for t in tags} == {"allergens", "favorite-drink"}
    assert subscribed.status_code == 201
