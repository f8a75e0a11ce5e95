"""The merchant rules, each written once: the scope helper every query uses, and the one policy
for a ``merchant_id`` sent in both the query and the body."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tests.factories import Factory, assert_error
from thanx_server.models import CommunicationSetting, IssuanceJob, Tag

SOURCE = Path(__file__).resolve().parents[1] / "src" / "thanx_server"
# The helper itself is the one place allowed to compare merchant columns with values.
SCOPE_HELPER = SOURCE / "kit" / "scoping.py"


def _merchant_column(node: ast.AST) -> bool:
    """``Model.merchant_id`` or ``Merchant.id``: a column that names the owning merchant."""
    if not isinstance(node, ast.Attribute) or not isinstance(node.value, ast.Name):
        return False
    model = node.value.id
    if not model[:1].isupper():
        return False  # an instance attribute (job.merchant_id), not a column in a query
    return node.attr == "merchant_id" or (model == "Merchant" and node.attr == "id")


def _filters_merchant_column(call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in ("in_", "not_in", "is_"):
        return _merchant_column(func.value)
    if isinstance(func, ast.Name) and func.id in ("in_list", "InList"):
        return bool(call.args) and _merchant_column(call.args[0])
    if isinstance(func, ast.Attribute) and func.attr == "filter_by":
        return any(k.arg == "merchant_id" for k in call.keywords)
    return False


def unscoped_merchant_filters(tree: ast.AST) -> list[int]:
    """Lines that filter a merchant column any other way than ``scope.clause(column)``: a
    comparison with something that is not another merchant column (a join is fine), ``.in_``,
    ``in_list`` or ``filter_by(merchant_id=...)``."""
    lines: list[int] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            columns = [o for o in operands if _merchant_column(o)]
            if columns and len(columns) != len(operands):
                lines.append(node.lineno)
        elif isinstance(node, ast.Call) and _filters_merchant_column(node):
            lines.append(node.lineno)
    return lines


def test_every_merchant_filter_goes_through_the_scope_helper() -> None:
    offenders = []
    for path in sorted(SOURCE.rglob("*.py")):
        if path == SCOPE_HELPER:
            continue
        for line in unscoped_merchant_filters(ast.parse(path.read_text(), str(path))):
            offenders.append(f"{path.relative_to(SOURCE)}:{line}")
    assert offenders == [], (
        "filter merchant-owned rows with MerchantScope.clause(column) (kit/scoping.py): "
        + ", ".join(offenders)
    )


@pytest.mark.parametrize(
    "snippet",
    [
        "select(Tag).where(Tag.merchant_id == merchant_id)",
        "select(Tag).where(merchant_id == Tag.merchant_id)",
        "select(Tag).where(Tag.merchant_id.in_(ids))",
        "select(Tag).where(in_list(Tag.merchant_id, ids))",
        "select(Merchant).where(Merchant.id == some_id)",
        "session.query(Tag).filter_by(merchant_id=m)",
    ],
)
def test_the_scope_check_catches_each_other_way(snippet: str) -> None:
    assert unscoped_merchant_filters(ast.parse(snippet)) == [1]


@pytest.mark.parametrize(
    "snippet",
    [
        "select(Tag).where(scope.clause(Tag.merchant_id))",
        "select(A).join(B, B.merchant_id == A.merchant_id)",
        "job.merchant_id == other",
    ],
)
def test_the_scope_check_allows_the_helper_and_joins(snippet: str) -> None:
    assert unscoped_merchant_filters(ast.parse(snippet)) == []


# --- merchant_id in the query and in the body: one policy, decided in the services ---------


async def test_query_and_body_naming_different_merchants_is_400_naming_both_everywhere(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    """Every endpoint that takes ``merchant_id`` in both places answers the same way, and writes
    nothing."""
    a, b = await factory.merchant(), await factory.merchant()
    user, _ = await factory.member(a)
    await factory.member(b, email=user.email, phone=user.phone)
    cred = await factory.partner([a, b])
    headers = cred.headers()
    calls = [
        (
            "PATCH",
            f"/partner/users/{user.id}/communication_settings",
            {"merchant_id": b.id, "communication_setting": {"reward_offer": {"email": False}}},
        ),
        ("POST", "/partner/issuance_jobs/nosuchjob/revoke", {"merchant_id": b.id}),
        ("DELETE", "/partner/tags", {"merchant_id": b.id, "user_ids": [user.id], "key": "k"}),
    ]
    put = await client.put(
        "/partner/tags",
        json={"merchant_id": b.id, "user_ids": [user.id], "key": "k", "values": ["v"]},
        headers=headers,
    )
    assert put.status_code == 200
    for method, path, body in calls:
        response = await client.request(
            method, path, params={"merchant_id": a.id}, json=body, headers=headers
        )
        assert_error(response, 400, "VALIDATION_FAILED", "merchant_id")
        message = response.json()["error"]["message"]
        assert a.id in message, (path, message)
        assert b.id in message, (path, message)
    session = factory.session
    settings = await session.scalars(select(CommunicationSetting))
    assert all(s.reward_offer_email for s in settings)
    assert (await session.scalars(select(Tag.key))).all() == ["k"]
    assert (await session.scalars(select(IssuanceJob))).all() == []


async def test_the_same_merchant_in_query_and_body_is_accepted(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    a = await factory.merchant()
    user, _ = await factory.member(a)
    cred = await factory.partner([a])
    response = await client.patch(
        f"/partner/users/{user.id}/communication_settings",
        params={"merchant_id": a.id},
        json={"merchant_id": a.id, "communication_setting": {"reward_offer": {"email": False}}},
        headers=cred.headers(),
    )
    assert response.status_code == 200
    assert response.json()["communication_setting"]["reward_offer"]["email"] is False
