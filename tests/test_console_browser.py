"""The web console in a real browser (issue 15): headless Chromium from the distribution's
packages, driven by Selenium through the distribution's chromedriver, against a real server
process. Signs in, watches a job progress to completion (sandbox job progression: one chunk a
step), advances the sandbox clock and sees a member's reward retire, triggers a webhook and
redelivers it, and sees a forged form (no CSRF token) refused. Each page's screenshot is written to
``THANX_CONSOLE_SCREENSHOTS`` (docs/console/ when refreshing the README's pictures; the test's
own directory otherwise).

Skipped when Chromium or its driver is missing, unless ``THANX_TEST_REQUIRE_BROWSER=1`` (CI,
whose ``.ci/run`` installs them)."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import StartApi
from tests.factories import Factory
from tests.test_issuance import email
from tests.webhook_receiver import Receiver
from thanx_server.kit.db import Database, create_engine

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

if (CHROMIUM is None or CHROMEDRIVER is None) and os.environ.get(
    "THANX_TEST_REQUIRE_BROWSER"
) != "1":
    pytest.skip(
        "Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402 (after the skip: only needed with a browser)
from selenium.common.exceptions import (  # noqa: E402
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

pytestmark = pytest.mark.live
WAIT = 15.0


@dataclass
class Seeded:
    operator_client_id: str
    operator_token: str
    partner_headers: dict[str, str]
    partner_client_id: str
    merchant_id: str
    body: dict[str, object]
    member_email: str


async def _seed(db_url: str) -> Seeded:
    database = Database.from_engine(create_engine(db_url))
    try:
        async with database.write_sessions() as session, session.begin():
            factory = Factory(session)
            merchant = await factory.merchant(name="Blue Bottle Test Kitchen")
            for i in range(3):
                await factory.member(merchant, email=f"guest{i}@example.com")
            cred = await factory.partner([merchant], scopes=["rewards.issue"])
            campaign = await factory.campaign(merchant, partner_id=cred.partner_id)
            operator = await factory.operator()
    finally:
        await database.dispose()
    return Seeded(
        operator_client_id=operator.client_id,
        operator_token=operator.access_token,
        partner_headers=cred.headers(),
        partner_client_id=cred.client_id,
        merchant_id=merchant.id,
        body={
            "merchant_id": merchant.id,
            "campaign_id": campaign.campaign.id,
            "variant_id": campaign.variants[0].id,
            "identifiers": [email(f"guest{i}@example.com") for i in range(3)],
        },
        member_email="guest0@example.com",
    )


def _browser() -> WebDriver:
    options = webdriver.ChromeOptions()
    assert CHROMIUM is not None
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root in a container
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,900",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def _until(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _click(browser: WebDriver, by: str, value: str) -> None:
    """Click what loads a new page, and wait until the old page is gone (reading the old page
    while the new one replaces it is a race)."""
    old = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(by, value).click()
    WebDriverWait(browser, WAIT).until(lambda _: _gone(old))
    WebDriverWait(browser, WAIT).until(
        lambda b: b.execute_script("return document.readyState") == "complete"
    )


def _gone(element: WebElement) -> bool:
    """Whether ``element`` has left the document (Selenium's ``staleness_of``, plus the answer
    Chromium gives instead of "stale" when asked while the new document replaces the old one,
    seen on a loaded machine: "Node with given id does not belong to the document")."""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc.msg):
            return True
        raise
    return False


def _text(browser: WebDriver, element_id: str) -> str:
    return str(browser.find_element(By.ID, element_id).text)


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """One Chromium for the module's tests (starting one costs seconds); each test signs in
    on its own server, so only the window is shared."""
    driver = _browser()
    try:
        yield driver
    finally:
        driver.quit()


def _fresh(browser: WebDriver, width: int = 1280, height: int = 900) -> None:
    browser.delete_all_cookies()
    browser.set_window_size(width, height)


def _sign_in(browser: WebDriver, base: str, client_id: str, token: str) -> None:
    browser.get(f"{base}/console/login")
    browser.find_element(By.ID, "client_id").send_keys(client_id)
    browser.find_element(By.ID, "access_token").send_keys(token)
    _click(browser, By.CSS_SELECTOR, "form.stack button[type=submit]")
    _until("the overview", lambda: browser.find_elements(By.ID, "merchants-heading") != [])


def _drive(browser: WebDriver, base: str, seeded: Seeded, shots: Path, receiver: Receiver) -> None:
    shots.mkdir(parents=True, exist_ok=True)
    _fresh(browser)

    def shot(name: str) -> None:
        browser.save_screenshot(str(shots / f"{name}.png"))

    # Signing in: the form, then the overview.
    browser.get(f"{base}/console")
    _until("the sign-in form", lambda: "/console/login" in browser.current_url)
    shot("login")
    browser.find_element(By.ID, "client_id").send_keys(seeded.operator_client_id)
    browser.find_element(By.ID, "access_token").send_keys(seeded.operator_token)
    _click(browser, By.CSS_SELECTOR, "form.stack button[type=submit]")
    _until("the overview", lambda: browser.find_elements(By.ID, "clock-heading") != [])
    assert seeded.operator_token not in browser.page_source
    assert "Blue Bottle Test Kitchen" in browser.page_source
    assert browser.find_elements(By.ID, "budgets") != []  # the partner's rate-limit budget
    browser.set_window_size(1280, 1400)  # the whole overview, budgets included, in the picture
    shot("overview")
    browser.set_window_size(1280, 900)

    # A job of three identifiers, one chunk a step (THANX_ISSUANCE_CHUNK_SIZE=1): the partner's
    # jobs are paused (job progression), so the embedded worker leaves them to the steps, and
    # each step moves the progress bar until the job completes.
    operator = {
        "Authorization": f"Bearer {seeded.operator_token}",
        "X-ClientId": seeded.operator_client_id,
    }
    paused = httpx.put(
        f"{base}/sandbox/jobs/progression",
        json={"client_id": seeded.partner_client_id, "mode": "paused"},
        headers=operator,
        trust_env=False,
    )
    assert paused.status_code == 200, paused.text
    response = httpx.post(
        f"{base}/partner/campaigns/issue",
        json=seeded.body,
        headers=seeded.partner_headers,
        trust_env=False,
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["issuance_job"]["id"]
    browser.get(f"{base}/console/jobs")
    _click(browser, By.LINK_TEXT, job_id)
    _until("the job page", lambda: browser.find_elements(By.ID, "job-state") != [])
    assert _text(browser, "job-state") == "pending"
    seen = [_text(browser, "job-percent")]
    while _text(browser, "job-state") != "completed":
        _click(browser, By.ID, "job-step")
        _until("the step's answer", lambda: browser.find_elements(By.ID, "job-state") != [])
        seen.append(_text(browser, "job-percent"))
        assert len(seen) < 10, seen
    assert seen == ["0%", "33%", "66%", "100%"], seen
    assert _text(browser, "job-issued") == "3"
    shot("job")
    browser.get(f"{base}/console/jobs")
    shot("jobs")

    # The journal: the issue request, opened with its body and as curl.
    browser.get(f"{base}/console/requests?operation_id=issueRewards")
    shot("requests")
    _click(browser, By.CSS_SELECTOR, "#requests tbody a")
    _until("the request", lambda: browser.find_elements(By.ID, "curl") != [])
    assert _text(browser, "request-status") == "202"
    assert "curl -sS -X POST" in str(browser.find_element(By.ID, "curl").get_attribute("value"))
    shot("request")

    # The member's reward, then the clock advanced past its retire_at: it has retired.
    def find_member() -> list[str]:
        browser.get(f"{base}/console/members")
        browser.find_element(By.ID, "member-q").send_keys(seeded.member_email)
        _click(browser, By.ID, "member-find")
        _until("the member", lambda: browser.find_elements(By.ID, "member-name") != [])
        return [e.text for e in browser.find_elements(By.CLASS_NAME, "reward-state")]

    assert find_member() == ["available"]
    shot("members")
    browser.get(f"{base}/console")
    browser.find_element(By.ID, "advance-by").send_keys("61d")
    _click(browser, By.ID, "clock-advance")
    _until("the advanced clock", lambda: "advanced" in browser.page_source)
    assert find_member() == ["retired"]
    shot("members-retired")

    # A fault rule, met once: the controls page shows its hit.
    rule = {"operation_id": "getMerchants", "status": 503, "times": 1}
    with httpx.Client(base_url=base, trust_env=False) as api:
        assert api.post("/sandbox/faults", json=rule, headers=operator).status_code == 201
        assert api.get("/partner/merchants", headers=seeded.partner_headers).status_code == 503
    browser.get(f"{base}/console/controls")
    hits = [e.text for e in browser.find_elements(By.CLASS_NAME, "fault-hits")]
    assert hits == ["1"], hits
    shot("controls")

    # A webhook: triggered from the console, delivered by the embedded worker to a receiver
    # in the test, then redelivered (same event, same body).
    endpoint = {
        "merchant_id": seeded.merchant_id,
        "url": receiver.url + "/hook",
        "event_types": ["communication_setting.updated"],
    }
    created = httpx.post(
        f"{base}/sandbox/webhook_endpoints",
        json={"webhook_endpoint": endpoint},
        headers=operator,
        trust_env=False,
    )
    assert created.status_code == 201, created.text
    browser.get(f"{base}/console/webhooks")
    assert created.json()["webhook_endpoint"]["secret"] not in browser.page_source
    Select(browser.find_element(By.ID, "trigger-event")).select_by_visible_text(
        "communication_setting.updated"
    )
    _click(browser, By.ID, "trigger-submit")
    _until("the event page", lambda: browser.find_elements(By.ID, "event-body") != [])

    def attempts() -> int:
        browser.refresh()
        return len(browser.find_elements(By.CSS_SELECTOR, "#event-attempts tbody tr"))

    _until("the delivery", lambda: attempts() == 1)
    _click(browser, By.ID, "event-redeliver")
    _until("the redelivery", lambda: attempts() == 2)
    assert len(receiver.received) == 2
    assert receiver.received[0].body == receiver.received[1].body
    shot("webhook-event")
    browser.get(f"{base}/console/webhooks")
    shot("webhooks")

    # A forged form (no CSRF token), posted by the signed-in browser: refused, nothing moved.
    browser.get(f"{base}/console")
    browser.execute_script(
        "const f = document.createElement('form');"
        "f.method = 'post'; f.action = '/console/clock/freeze';"
        "document.body.appendChild(f); f.submit();"
    )
    _until("the refusal", lambda: browser.find_elements(By.ID, "error-message") != [])
    assert "403 CSRF_REFUSED" in browser.title
    shot("csrf-refused")
    browser.get(f"{base}/console")
    assert _text(browser, "clock-state") == "running"


async def test_console_in_a_real_browser(
    browser: WebDriver, fresh_db_url: str, start_api: StartApi, tmp_path: Path
) -> None:
    seeded = await _seed(fresh_db_url)
    api = await start_api(
        {
            "THANX_DATABASE_URL": fresh_db_url,
            "THANX_ISSUANCE_CHUNK_SIZE": "1",
            "THANX_WEBHOOK_POLL_INTERVAL": "0.1",
        }
    )
    shots = Path(os.environ.get("THANX_CONSOLE_SCREENSHOTS") or tmp_path)
    receiver = await Receiver().start()
    try:
        # The browser is driven from a thread; this loop serves the receiver meanwhile.
        await asyncio.to_thread(_drive, browser, api.url, seeded, shots, receiver)
    finally:
        await receiver.close()


# --- live pages, a phone, a keyboard ----------------------------------------------------------

PAGES = (
    "/console",
    "/console/jobs",
    "/console/jobs/{job_id}",
    "/console/requests",
    "/console/members",
    "/console/webhooks",
    "/console/controls",
)


def _same_page(html: WebElement) -> bool:
    """True while ``html`` is still the document's (no navigation, no reload since)."""
    return not _gone(html)


def _tab(browser: WebDriver, *keys: str) -> str:
    """Press keys, return the id (or class) of the element that has the focus then."""
    ActionChains(browser).send_keys(*keys).perform()
    active = browser.switch_to.active_element
    return str(active.get_attribute("id") or active.get_attribute("class") or active.tag_name)


def _live(browser: WebDriver, base: str, seeded: Seeded, shots: Path) -> None:
    shots.mkdir(parents=True, exist_ok=True)
    _fresh(browser)
    operator = {
        "Authorization": f"Bearer {seeded.operator_token}",
        "X-ClientId": seeded.operator_client_id,
    }
    api = httpx.Client(base_url=base, trust_env=False)

    # The keyboard alone: the skip link first, then the form's fields, Enter submits.
    browser.get(f"{base}/console/login")
    assert _tab(browser, Keys.TAB) == "skip"
    assert _tab(browser, Keys.ENTER, Keys.TAB) == "client_id"
    ActionChains(browser).send_keys(seeded.operator_client_id).perform()
    assert _tab(browser, Keys.TAB) == "access_token"
    old = browser.find_element(By.TAG_NAME, "html")
    ActionChains(browser).send_keys(seeded.operator_token, Keys.ENTER).perform()
    WebDriverWait(browser, WAIT).until(lambda _: _gone(old))
    _until("the overview", lambda: browser.find_elements(By.ID, "merchants-heading") != [])

    # A job's progress moves on its page without a reload; the last step reloads it once, for
    # the actions of a finished job.
    paused = api.put(
        "/sandbox/jobs/progression",
        json={"client_id": seeded.partner_client_id, "mode": "paused"},
        headers=operator,
    )
    assert paused.status_code == 200, paused.text
    issued = api.post("/partner/campaigns/issue", json=seeded.body, headers=seeded.partner_headers)
    assert issued.status_code == 202, issued.text
    job_id = issued.json()["issuance_job"]["id"]
    browser.get(f"{base}/console/jobs/{job_id}")
    html = browser.find_element(By.TAG_NAME, "html")
    assert _text(browser, "job-percent") == "0%"
    step = api.post(f"/sandbox/jobs/{job_id}/step", json={"chunks": 1}, headers=operator)
    assert step.status_code == 200, step.text
    _until("33% in place", lambda: _text(browser, "job-percent") == "33%")
    assert _same_page(html)
    step = api.post(f"/sandbox/jobs/{job_id}/step", json={"chunks": 2}, headers=operator)
    assert step.status_code == 200, step.text
    _until("the finished job's actions", lambda: browser.find_elements(By.ID, "job-revoke") != [])
    assert _text(browser, "job-state") == "completed"

    # The journal shows a new request without a reload.
    browser.get(f"{base}/console/requests")
    html = browser.find_element(By.TAG_NAME, "html")

    def rows() -> int:
        return len(browser.find_elements(By.CSS_SELECTOR, "#requests tbody tr"))

    before = rows()
    assert api.get("/partner/merchants", headers=seeded.partner_headers).status_code == 200
    _until("the new request in place", lambda: rows() == before + 1)
    assert _same_page(html)

    # Copy as curl: the button (hidden without JavaScript) puts the command on the clipboard.
    browser.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"origin": base, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
    )
    _click(browser, By.CSS_SELECTOR, "#requests tbody a")
    button = browser.find_element(By.ID, "curl-copy")
    assert button.is_displayed()
    button.click()
    _until("the copy", lambda: _text(browser, "curl-copied") == "Copied to the clipboard.")
    pasted = browser.execute_async_script(
        "navigator.clipboard.readText().then(arguments[0], () => arguments[0](null));"
    )
    assert pasted == browser.find_element(By.ID, "curl").get_attribute("value")
    assert str(pasted).startswith("curl -sS")

    # A phone (390 x 844): every page fits its width (wide tables scroll inside themselves),
    # the navigation is on screen, and each page has one h1 and labelled fields.
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True},
    )
    try:
        for path in PAGES:
            browser.get(base + path.format(job_id=job_id))
            _until(path, lambda: browser.find_elements(By.TAG_NAME, "main") != [])
            width, overflow, main_right = browser.execute_script(
                "return [window.innerWidth, document.documentElement.scrollWidth,"
                " document.querySelector('main').getBoundingClientRect().right];"
            )
            assert overflow <= width, (path, overflow, width)
            assert main_right <= width + 1, (path, main_right, width)
            for link in browser.find_elements(By.CSS_SELECTOR, "nav[aria-label] a"):
                assert link.is_displayed(), (path, link.text)
                left, right = browser.execute_script(
                    "const r = arguments[0].getBoundingClientRect(); return [r.left, r.right];",
                    link,
                )
                assert left >= 0, (path, link.text, left)
                assert right <= width, (path, link.text, right, width)
            assert len(browser.find_elements(By.TAG_NAME, "h1")) == 1, path
            unlabelled = browser.execute_script(
                "return Array.from(document.querySelectorAll('input, select, textarea'))"
                ".filter(e => e.type !== 'hidden' && !e.labels.length"
                " && !e.getAttribute('aria-label')).map(e => e.name || e.id);"
            )
            assert unlabelled == [], (path, unlabelled)
            if path in ("/console", "/console/jobs/{job_id}", "/console/controls"):
                name = "overview" if path == "/console" else path.split("/")[2]
                browser.save_screenshot(str(shots / f"phone-{name}.png"))
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        api.close()


async def test_live_pages_a_phone_and_the_keyboard(
    browser: WebDriver, fresh_db_url: str, start_api: StartApi, tmp_path: Path
) -> None:
    seeded = await _seed(fresh_db_url)
    api = await start_api({"THANX_DATABASE_URL": fresh_db_url, "THANX_ISSUANCE_CHUNK_SIZE": "1"})
    shots = Path(os.environ.get("THANX_CONSOLE_SCREENSHOTS") or tmp_path)
    await asyncio.to_thread(_live, browser, api.url, seeded, shots)
