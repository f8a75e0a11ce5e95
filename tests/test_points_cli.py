"""``thanx-server admin points``: an operator gives a merchant points and products (issue 16)."""

from __future__ import annotations

import httpx

from tests.cli import Cli


async def test_points_made_by_the_operator_reach_partners(
    cli: Cli, cli_client: httpx.AsyncClient
) -> None:
    merchant = await cli.json("admin", "merchant", "create", "--name", "Cafe", "--handle", "cafe")
    template = await cli.json(
        "admin", "template", "create", "--merchant", merchant["id"], "--name", "Free Coffee"
    )
    experience = await cli.json(
        "admin", "points", "experience-create", "--merchant", merchant["id"],
        "--name", "Bean Points", "--currency-name", "bean", "--currency-plural", "beans",
        "--conversion", "1.5",
    )  # fmt: skip
    product = await cli.json(
        "admin", "points", "product-create", "--merchant", merchant["id"],
        "--template", template["id"], "--cost", "120", "--end", "2099-01-01T00:00:00Z",
    )  # fmt: skip
    partner = await cli.json(
        "admin", "partner", "create", "--name", "Acme",
        "--scope", "users.read", "--merchant", merchant["id"],
    )  # fmt: skip
    headers = {"Authorization": f"Bearer {partner['access_token']}",
               "X-ClientId": partner["client_id"]}  # fmt: skip

    experiences = (await cli_client.get("/points_experiences", headers=headers)).json()
    assert [e["id"] for e in experiences["points_experiences"]] == [experience["id"]]
    assert experiences["points_experiences"][0]["currency"]["conversion"] == 1.5
    products = (await cli_client.get("/points_products", headers=headers)).json()
    assert [(p["id"], p["cost"]) for p in products["points_products"]] == [(product["id"], 120)]

    again = await cli(
        "admin", "points", "experience-create", "--merchant", merchant["id"], "--name", "X",
        ok=False,
    )  # fmt: skip
    assert again.exit_code == 1
    assert again.stderr.startswith("error: merchant_id:")
    bad = await cli(
        "admin", "points", "product-create", "--merchant", merchant["id"],
        "--template", template["id"], "--cost", "lots", ok=False,
    )  # fmt: skip
    assert bad.stderr.startswith("error: --cost: not a number")
