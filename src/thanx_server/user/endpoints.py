"""GET/PATCH /partner/users(/{id}) and the communication settings of a member
(/partner/users/{id}/communication_settings, also served without the /partner prefix as the docs'
curl example has it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from thanx_server.auth.dependencies import Controller, PartnerAuth
from thanx_server.auth.scopes import Scope
from thanx_server.auth.service import PartnerPrincipal
from thanx_server.kit.deps import DbSession
from thanx_server.kit.openapi import NOT_FOUND, PARTNER_ERRORS, error_doc
from thanx_server.kit.params import PageParams
from thanx_server.kit.wire import InstantIn
from thanx_server.sandbox.routing import control_router
from thanx_server.user import service, signup
from thanx_server.user.schemas import (
    CommunicationSettingEnvelope,
    CommunicationSettingOut,
    CommunicationSettingUpdateIn,
    SignUpIn,
    SmsSubscriptionEnvelope,
    SmsSubscriptionOut,
    UserEnvelope,
    UserList,
    UserOut,
    UserUpdateIn,
)

RESPONSES = dict(PARTNER_ERRORS)
RESPONSES.update({code: spec for code, spec in NOT_FOUND.items()})
router = APIRouter(tags=["Users"], responses=RESPONSES)

UsersReader = Annotated[PartnerPrincipal, Depends(PartnerAuth(Scope.USERS_READ))]
UsersWriter = Annotated[PartnerPrincipal, Depends(PartnerAuth(Scope.USERS_WRITE))]
SettingsReader = Annotated[
    PartnerPrincipal,
    Depends(PartnerAuth(Scope.USERS_READ, Scope.COMMUNICATION_SETTINGS_READ)),
]
SettingsWriter = Annotated[
    PartnerPrincipal,
    Depends(PartnerAuth(Scope.USERS_WRITE, Scope.COMMUNICATION_SETTINGS_WRITE)),
]
SignUpWriter = Annotated[
    PartnerPrincipal, Depends(PartnerAuth(Scope.USERS_WRITE, Scope.AUTH_CREATE))
]
MerchantFilter = Annotated[
    str | None,
    Query(description="One of the credential's merchants; omitted: all of them."),
]


@router.get(
    "/partner/users",
    response_model=UserList,
    response_model_exclude_unset=True,
    operation_id="getPartnerUsers",
)
async def list_users(
    session: DbSession,
    principal: UsersReader,
    page: PageParams,
    merchant_id: MerchantFilter = None,
    email: Annotated[str | None, Query(description="Exact match, case-insensitive.")] = None,
    phone: Annotated[str | None, Query(description="E.164, e.g. +14155551212.")] = None,
    updated_after: Annotated[InstantIn | None, Query()] = None,
    updated_before: Annotated[InstantIn | None, Query()] = None,
    include_loyalty_attributes: bool = False,
    include_communication_settings: bool = False,
) -> UserList:
    """Members of the credential's merchants, newest first."""
    result = await service.list_users(
        session,
        principal,
        merchant_id=merchant_id,
        email=email,
        phone=phone,
        updated_after=updated_after,
        updated_before=updated_before,
        page=page,
    )
    return UserList(
        users=[
            UserOut.from_view(
                view, loyalty=include_loyalty_attributes, settings=include_communication_settings
            )
            for view in result.items
        ],
        pagination=result.pagination(),
    )


@router.get(
    "/partner/users/{id}",
    response_model=UserEnvelope,
    response_model_exclude_unset=True,
    operation_id="getPartnerUser",
)
async def get_user(
    session: DbSession, principal: UsersReader, id: str, merchant_id: MerchantFilter = None
) -> UserEnvelope:
    """One member, always with `loyalty` and `communication_settings`."""
    view = await service.get_user(session, principal, user_id=id, merchant_id=merchant_id)
    return UserEnvelope(user=UserOut.from_view(view, loyalty=True, settings=True))


@router.patch(
    "/partner/users/{id}",
    response_model=UserEnvelope,
    response_model_exclude_unset=True,
    operation_id="updatePartnerUser",
)
@router.put(
    "/partner/users/{id}",
    response_model=UserEnvelope,
    response_model_exclude_unset=True,
    operation_id="putPartnerUser",
    summary="Update User (PUT alias)",
)
async def update_user(
    session: DbSession,
    principal: UsersWriter,
    id: str,
    body: UserUpdateIn,
    merchant_id: MerchantFilter = None,
) -> UserEnvelope:
    """Change a member's email, phone, names, birth date or zip code (fields left out are kept)."""
    view = await service.update_user(
        session, principal, user_id=id, merchant_id=merchant_id, changes=body.user.changes()
    )
    return UserEnvelope(user=UserOut.from_view(view, loyalty=True, settings=True))


@router.get(
    "/partner/users/{id}/communication_settings",
    response_model=CommunicationSettingEnvelope,
    operation_id="getUserCommunicationSettings",
)
@router.get(
    "/users/{id}/communication_settings",
    response_model=CommunicationSettingEnvelope,
    operation_id="getUserCommunicationSettingsUnprefixed",
    summary="Get User Communication Settings (docs' unprefixed path)",
)
async def get_communication_settings(
    session: DbSession, principal: SettingsReader, id: str, merchant_id: MerchantFilter = None
) -> CommunicationSettingEnvelope:
    """The member's settings at one merchant (required when the user is a member of several)."""
    view = await service.get_settings(session, principal, user_id=id, merchant_id=merchant_id)
    return CommunicationSettingEnvelope(
        communication_setting=CommunicationSettingOut.from_view(view)
    )


@router.patch(
    "/partner/users/{id}/communication_settings",
    response_model=CommunicationSettingEnvelope,
    operation_id="updateUserCommunicationSettings",
)
@router.patch(
    "/users/{id}/communication_settings",
    response_model=CommunicationSettingEnvelope,
    operation_id="updateUserCommunicationSettingsUnprefixed",
    summary="Update User Communication Settings (docs' unprefixed path)",
)
async def update_communication_settings(
    session: DbSession,
    principal: SettingsWriter,
    id: str,
    body: CommunicationSettingUpdateIn,
    merchant_id: MerchantFilter = None,
) -> CommunicationSettingEnvelope:
    """Partial update: only the channels sent change."""
    view = await service.update_settings(
        session,
        principal,
        user_id=id,
        merchant_id=merchant_id,
        body_merchant_id=body.merchant_id,
        changes=body.communication_setting.changes(),
    )
    return CommunicationSettingEnvelope(
        communication_setting=CommunicationSettingOut.from_view(view)
    )


@router.post(
    "/users",
    status_code=201,
    response_model=UserEnvelope,
    response_model_exclude_unset=True,
    operation_id="createUser",
    summary="Create User (Consumer sign-up)",
    responses={
        200: {"model": UserEnvelope, "description": "Already a member: the member, unchanged."},
        400: error_doc(
            "USER_NAME_REQUIRED (a name missing), USER_EMAIL_INVALID, USER_PHONE_INVALID, or "
            "VALIDATION_FAILED naming the field (terms not accepted, an identity conflict)."
        ),
    },
)
async def create_user(
    session: DbSession, principal: SignUpWriter, body: SignUpIn, response: Response
) -> UserEnvelope:
    """Enrol a person in a merchant's loyalty programme (201); the same person again answers the
    existing member (200). Needs `users.write` or `auth.create`."""
    result = await signup.sign_up(
        session, principal, merchant_id=body.merchant_id, data=body.user.data()
    )
    response.status_code = 201 if result.created else 200
    return UserEnvelope(user=UserOut.from_view(result.view, loyalty=True, settings=True))


# --- sandbox: the customer opts into SMS marketing ------------------------------------------

sandbox_router = control_router()


@sandbox_router.post(
    "/sandbox/users/{id}/sms_subscription",
    response_model=SmsSubscriptionEnvelope,
    operation_id="sandboxOptInSms",
)
async def sandbox_opt_in_sms(
    session: DbSession, principal: Controller, id: str, merchant_id: MerchantFilter = None
) -> SmsSubscriptionEnvelope:
    """Sandbox only: the member opts into the merchant's SMS marketing (sends the
    `sms_subscription.created` webhook the first time)."""
    sub = await service.opt_in_sms(session, principal.merchants(merchant_id), user_id=id)
    return SmsSubscriptionEnvelope(
        sms_subscription=SmsSubscriptionOut(
            user_id=sub.user_id,
            merchant_id=sub.merchant_id,
            phone=sub.phone,
            email=sub.email,
            opted_in_at=sub.opted_in_at,
        )
    )
