"""Magic identifiers (issue 13, item 3): in a sandbox, identifiers that produce each failure an
issuance job can record, so a partner can test failure handling without crafting data.

* an email at ``fail.sandbox.thanx.test``: the local part picks the failure
  (``user-not-found@``, ``duplicate@``, ``job-fails@``; any other: user not found);
* a phone in ``+1 202 555 0100`` to ``+1 202 555 0199`` (numbers reserved for fiction):
  ``...0100`` user not found, ``...0101`` duplicate, ``...0102`` the job fails; the rest of the
  range: user not found.

``job-fails`` fails the whole job (state ``failed`` with a reason), as when what it issues is
gone. Outside a sandbox these are ordinary identifiers.
"""

from __future__ import annotations

from typing import Literal

MAGIC_EMAIL_DOMAIN = "fail.sandbox.thanx.test"
MAGIC_PHONE_PREFIX = "+120255501"  # +1 202 555 0100 .. 0199
JOB_FAILS = "job-fails"
JOB_FAILURE_REASON = "sandbox: a magic identifier fails this job"

Outcome = Literal["user_not_found", "duplicate", "job_fails"]

_BY_LOCAL_PART: dict[str, Outcome] = {
    "user-not-found": "user_not_found",
    "duplicate": "duplicate",
    JOB_FAILS: "job_fails",
}
_BY_PHONE_SUFFIX: dict[str, Outcome] = {
    "00": "user_not_found",
    "01": "duplicate",
    "02": "job_fails",
}


def magic_outcome(kind: str, key: str | None) -> Outcome | None:
    """What a (normalised) identifier forces, or None for an ordinary one."""
    if key is None:
        return None
    if kind == "email":
        local, _, domain = key.rpartition("@")
        if domain != MAGIC_EMAIL_DOMAIN:
            return None
        return _BY_LOCAL_PART.get(local, "user_not_found")
    if kind == "phone" and key.startswith(MAGIC_PHONE_PREFIX) and len(key) == 12:
        return _BY_PHONE_SUFFIX.get(key[-2:], "user_not_found")
    return None
