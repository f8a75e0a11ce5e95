"""``thanx-server admin template``: operators create templates; partners see the published ones."""

from __future__ import annotations

import httpx

from tests.cli import Cli


async def test_templates_created_by_the_operator_reach_partners_unless_draft(
    cli: Cli, cli_client: httpx.AsyncClient
) -> None:
    merchant = await cli.json("admin", "merchant", "create", "--name", "Cafe", "--handle", "cafe")
    published = await cli.json(
        "admin", "template", "create", "--merchant", merchant["id"],
        "--name", "Free Coffee", "--description", "One free coffee, any size",
        "--redemption-venue", "in_store",
    )  # fmt: skip
    draft = await cli.json(
        "admin", "template", "create", "--merchant", merchant["id"],
        "--name", "10% Off", "--discount-type", "percent", "--discount-value", "10", "--draft",
    )  # fmt: skip
    partner = await cli.json(
        "admin", "partner", "create", "--name", "Acme",
        "--scope", "rewards.issue", "--merchant", merchant["id"],
    )  # fmt: skip

    # The older spelling is accepted and stored as the documented value (reference C.1).
    assert published["redemption_venue"] == "instore"
    listed = await cli.json("admin", "template", "list")
    assert [(t["id"], t["published"]) for t in listed] == [
        (published["id"], True),
        (draft["id"], False),
    ]
    assert draft["discount"] == {"type": "percent", "value": 10.0}
    headers = {"Authorization": f"Bearer {partner['access_token']}",
               "X-ClientId": partner["client_id"]}  # fmt: skip
    response = await cli_client.get("/partner/reward_templates", headers=headers)
    assert [t["id"] for t in response.json()["reward_templates"]] == [published["id"]]

    invalid = await cli(
        "admin", "template", "create", "--merchant", merchant["id"],
        "--name", "Free", "--discount-type", "amount", ok=False,
    )  # fmt: skip
    assert invalid.exit_code == 1
    assert invalid.stderr.startswith("error: discount_value:")
