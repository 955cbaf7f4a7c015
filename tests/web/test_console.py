"""The console, used as a person would: in a real headless Chromium, on a real server.

Log in (and a wrong password refused); send a fax from the form to line 101 and watch it
reach "completed" in the Outbox without reloading (the queue is paused first, so the page
must be told by the event stream); open it in the receiver's Inbox and see page 1 as an
image; an administrator changes a device's rings and the API reports it; a user without
manage rights sees no administration pages and gets 403 from the API behind them; a form
post without the CSRF token is refused. Every page is photographed (see conftest.shoot).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from tests.support.authhttp import httpx
from tests.support.faxes import make_fax_tiff
from tests.support.http import send_to_101, wait_for
from tests.support.server import LanfaxServer

Shoot = Callable[[WebDriver, str], Path]
#: Generous: the machine running the tests may be loaded.
WAIT = 60


def wait(driver: WebDriver, timeout: float = WAIT) -> WebDriverWait:  # type: ignore[type-arg]
    return WebDriverWait(driver, timeout)


def css(driver: WebDriver, selector: str, timeout: float = WAIT) -> Any:
    return wait(driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, selector)))


def xpath(driver: WebDriver, expr: str, timeout: float = WAIT) -> Any:
    return wait(driver, timeout).until(ec.presence_of_element_located((By.XPATH, expr)))


def log_in(driver: WebDriver, url: str, user: str, password: str | None = None) -> None:
    """Log in with the keyboard only: type, Tab, type, Enter."""
    driver.get(url + "/")
    field = css(driver, "#login-form input[name=user]")
    field.send_keys(user, Keys.TAB, password or f"{user}-password", Keys.ENTER)
    css(driver, "nav .who")


def go(driver: WebDriver, route: str, ready: str) -> Any:
    driver.execute_script("location.hash = arguments[0]", "#/" + route)
    return css(driver, ready)


def fetch(
    driver: WebDriver,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: Any = None,
) -> Any:
    """fetch() from the page itself (the session cookie goes along): (status, body)."""
    return driver.execute_async_script(
        """
        const [method, path, headers, body, done] = arguments;
        fetch(path, {method, headers, credentials: 'same-origin',
                     body: method === 'GET' ? undefined : JSON.stringify(body || {})})
          .then(async r => done([r.status, await r.text()]), e => done([0, String(e)]));
        """,
        method,
        path,
        headers or {},
        body,
    )


def test_log_in_and_a_wrong_password(
    browser: WebDriver, console: LanfaxServer, shoot: Shoot
) -> None:
    browser.get(console.url + "/")
    form = css(browser, "#login-form")
    shoot(browser, "login")
    # Every control has a label.
    for control in form.find_elements(By.CSS_SELECTOR, "input"):
        label = browser.find_element(By.CSS_SELECTOR, f"label[for='{control.get_attribute('id')}']")
        assert label.text
    form.find_element(By.NAME, "user").send_keys("alice")
    form.find_element(By.NAME, "password").send_keys("not-her-password", Keys.ENTER)
    error = css(browser, "#login-error")
    assert error.text == "wrong user name or password"
    assert browser.get_cookie("lanfax_session") is None
    shoot(browser, "login-refused")

    log_in(browser, console.url, "alice")
    cookie = browser.get_cookie("lanfax_session")
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    # The page cannot read the cookie.
    assert "lanfax_session" not in browser.execute_script("return document.cookie")
    css(browser, "#send-form")
    browser.find_element(By.ID, "logout").click()
    css(browser, "#login-form")
    assert (
        browser.get_cookie("lanfax_session") is None
        or fetch(browser, "GET", "/api/v1/jobs")[0] == 401
    )


def test_send_a_fax_and_watch_it_complete_then_read_it_in_the_inbox(
    browser: WebDriver, console: LanfaxServer, shoot: Shoot, tmp_path: Path
) -> None:
    api = console.api
    doc = tmp_path / "letter.txt"
    doc.write_text("Dear Bob,\n\nthe console sent this fax.\n\nAlice\n")
    # The queue waits: the Outbox must learn of the completion from the event stream.
    assert httpx.patch(f"{api}/config", json={"pause_server_queue": True}).status_code == 200
    try:
        log_in(browser, console.url, "alice")
        form = css(browser, "#send-form")
        # Sending without a number: the error is shown beside the recipients.
        form.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(doc))
        browser.find_element(By.ID, "send-button").click()
        error = css(browser, "[data-field-error=recipients]")
        assert "fax number" in error.text
        form.find_element(By.NAME, "recipient_number").send_keys("101")
        form.find_element(By.NAME, "recipient_name").send_keys("Bob")
        cover = browser.find_element(By.XPATH, "//label[text()='Put a cover page in front']")
        browser.find_element(By.ID, cover.get_attribute("for")).click()
        subject = browser.find_element(By.XPATH, "//label[text()='Subject']")
        browser.find_element(By.ID, subject.get_attribute("for")).send_keys("Console test")
        browser.find_element(By.ID, "preview-button").click()
        pages = wait(browser).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#preview img") or None
        )
        assert len(pages) == 2  # the cover page and the letter, rendered by the server
        assert all(
            browser.execute_script("return arguments[0].naturalWidth", img) > 300 for img in pages
        )
        browser.execute_script("window.scrollTo(0, 0)")
        shoot(browser, "send")
        browser.execute_script("arguments[0].scrollIntoView()", pages[0])
        shoot(browser, "send-preview")
        # A marker that a reload would lose.
        browser.execute_script("window.__sameDocument = 'yes'")
        browser.find_element(By.ID, "send-button").click()
        row = css(browser, "#outbox-table tbody tr")
        job_id = int(row.get_attribute("id").split("-")[1])
        assert row.get_attribute("data-status") == "pending"
        shoot(browser, "outbox")
    finally:
        assert httpx.patch(f"{api}/config", json={"pause_server_queue": False}).status_code == 200
    css(browser, f"#job-{job_id}[data-status=completed]", timeout=120)
    assert browser.execute_script("return window.__sameDocument") == "yes"
    assert httpx.get(f"{api}/jobs/{job_id}").json()["queue_status"] == "completed"
    go(browser, f"outbox/{job_id}", "#job-detail")
    wait(browser).until(
        lambda d: d.execute_script(
            "const i = document.querySelector('#job-detail img'); return i && i.naturalWidth"
        )
    )
    detail = browser.find_element(By.ID, "job-detail").text
    assert "14400" in detail and "completed" in detail
    shoot(browser, "outbox-detail")

    # The receiver's side: an operator opens the Inbox and sees page 1 as an image.
    wait_for(
        api, "the fax archived", lambda: httpx.get(f"{api}/archive/incoming").json()["entries"]
    )
    browser.find_element(By.ID, "logout").click()
    log_in(browser, console.url, "olga")
    go(browser, "inbox", "#archive-incoming tbody tr a").click()
    image = css(browser, "#page-image")
    wait(browser).until(lambda d: d.execute_script("return arguments[0].naturalWidth", image) > 0)
    assert "/pages/1.png" in image.get_attribute("src")
    assert browser.find_element(By.ID, "viewer-page").text == "page 1 of 2"
    shoot(browser, "inbox")
    # Turn the page with a thumbnail, rotate, zoom.
    browser.find_element(By.CSS_SELECTOR, "button[aria-label='Show page 2']").click()
    wait(browser).until(
        lambda d: "/pages/2.png" in d.find_element(By.ID, "page-image").get_attribute("src")
    )
    browser.find_element(By.CSS_SELECTOR, "button[aria-label='Rotate clockwise']").click()
    browser.find_element(By.CSS_SELECTOR, "button[aria-label='Zoom in']").click()
    style = browser.find_element(By.ID, "page-image").get_attribute("style")
    assert "rotate(90deg)" in style and "125%" in style
    # An operator may not delete from the archive (manage_in_archive): no button for it.
    toolbar = browser.find_element(By.CSS_SELECTOR, "#viewer .toolbar").text
    assert "Delete" not in toolbar and "PDF" in toolbar and "TIFF" in toolbar
    # Forward the fax as it is to line 100: a new job of olga's.
    browser.find_element(By.XPATH, "//button[text()='Forward…']").click()
    number = browser.find_element(By.XPATH, "//label[text()='Forward to fax number']")
    browser.find_element(By.ID, number.get_attribute("for")).send_keys("100", Keys.ENTER)
    notice = css(browser, "form.forward .notice")
    forwarded = int(notice.text.split("job ")[1].split(".")[0])
    job = httpx.get(f"{api}/jobs/{forwarded}").json()
    assert job["user_name"] == "olga" and job["recipient_number"] == "100"
    assert job["page_count"] == 2
    go(browser, "sent", "#archive-outgoing tbody tr a").click()
    css(browser, "#page-image")
    shoot(browser, "sent-items")
    go(browser, "incoming", "#lines li")
    shoot(browser, "incoming")


def test_an_administrator_changes_the_rings(
    browser: WebDriver, console: LanfaxServer, shoot: Shoot, tmp_path: Path
) -> None:
    log_in(browser, console.url, "admin")
    card = go(browser, "admin/devices", "#device-2")
    rings = card.find_element(By.NAME, "rings")
    # Select and overwrite, as a person does (clear() fires no input event for the page).
    rings.send_keys(Keys.CONTROL, "a")
    rings.send_keys("5")
    card.find_element(By.CSS_SELECTOR, "button[data-device='2']").click()
    wait(browser).until(lambda d: "Saved." in d.find_element(By.ID, "device-2").text)
    assert httpx.get(f"{console.api}/ports/2").json()["rings"] == 5
    # The handle is closed again: the API can open its own modify handle.
    handle = httpx.post(f"{console.api}/ports/2/handles", json={"mode": "modify"})
    assert handle.status_code == 201, handle.text
    httpx.delete(f"{console.api}/handles/{handle.json()['handle']}")
    browser.find_element(By.CSS_SELECTOR, "#device-2 details summary").click()
    css(browser, "#device-2 .methods li")
    browser.execute_script("document.getElementById('device-2').scrollIntoView()")
    shoot(browser, "devices")
    # Rights beyond the role: the administrator gives alice high priority.
    go(browser, "admin/security", "#users-table")
    row = xpath(browser, "//table[@id='users-table']//tr[td[starts-with(., 'alice')]]")
    row.find_element(By.XPATH, ".//button[text()='rights…']").click()
    css(browser, "#right-alice-submit_high").click()
    # The page shows the server's answer once the change is stored.
    wait(browser).until(
        lambda d: "granted: submit_high" in d.find_element(By.ID, "rights-alice").text
    )
    alice = httpx.get(f"{console.api}/users/alice").json()
    assert alice["granted"] == ["submit_high"] and "submit_high" in alice["rights"]
    httpx.patch(f"{console.api}/users/alice", json={"revoke": ["submit_high"]})
    for route, ready, name in (
        ("admin/server", "#server-form", "server"),
        ("admin/routing", "#routing-order li", "routing"),
        ("admin/covers", "#covers-table tbody tr", "covers"),
        ("admin/security", "#audit-table tbody tr", "security"),
        ("admin/activity", "#activity-table", "activity"),
    ):
        go(browser, route, ready)
        shoot(browser, name)
    # Server settings: change the retries and save; only what changed is sent.
    form = go(browser, "admin/server", "#server-form")
    retries = form.find_element(By.NAME, "retries")
    retries.send_keys(Keys.CONTROL, "a")
    retries.send_keys("7")
    form.find_element(By.XPATH, ".//button[text()='Save']").click()
    wait(browser).until(lambda d: "Saved." in d.find_element(By.ID, "server-form").text)
    assert httpx.get(f"{console.api}/config").json()["retries"] == 7
    httpx.patch(f"{console.api}/config", json={"retries": 3})
    # A received fax moved to alice's inbox (manage_receive_folder), in the viewer.
    before = len(httpx.get(f"{console.api}/archive/incoming").json()["entries"])
    send_to_101(console.api, make_fax_tiff(tmp_path, pages=1))
    wait_for(
        console.api,
        "a new fax in the server inbox",
        lambda: len(httpx.get(f"{console.api}/archive/incoming").json()["entries"]) > before,
    )
    # alice's account exists once she has connected (or an administrator made it).
    assert httpx.post(f"{console.api}/accounts", json={"name": "alice"}).status_code in (201, 409)
    go(browser, "inbox", "#archive-incoming tbody tr a").click()
    css(browser, "#page-image")
    assert "the server" in css(browser, "#owner").text
    target = xpath(browser, "//select[option[@value='alice']]")
    target.find_element(By.CSS_SELECTOR, "option[value='alice']").click()
    browser.find_element(By.XPATH, "//button[text()='Move']").click()
    wait(browser).until(lambda d: not d.find_elements(By.ID, "viewer"))
    (moved,) = httpx.get(f"{console.api}/accounts/alice/archive").json()["entries"][:1]
    assert moved["user_name"] == "alice"
    # Outgoing routing: a group with line 101 only, made in the page, is what the API lists.
    go(browser, "admin/outrouting", "#rules-table tbody tr")
    label = browser.find_element(By.XPATH, "//label[text()='New group']")
    browser.find_element(By.ID, label.get_attribute("for")).send_keys("Line 101 only")
    css(browser, "#group-dev-2").click()
    browser.find_element(By.XPATH, "//button[text()='Add group']").click()
    wait(browser).until(lambda d: "Line 101 only" in d.find_element(By.ID, "groups-table").text)
    groups = httpx.get(f"{console.api}/outbound/groups").json()["groups"]
    assert {"name": "Line 101 only", "devices": [2]}.items() <= groups[-1].items()
    number = browser.find_element(By.XPATH, "//label[text()='Fax number']")
    browser.find_element(By.ID, number.get_attribute("for")).send_keys("101", Keys.ENTER)
    assert "dialled on" in css(browser, "#route-result").text
    shoot(browser, "outrouting")


def test_a_user_sees_no_administration_and_the_api_refuses(
    browser: WebDriver, console: LanfaxServer, shoot: Shoot
) -> None:
    log_in(browser, console.url, "alice")
    nav = browser.find_element(By.CSS_SELECTOR, "nav").text
    assert "Administration" not in nav and "Security" not in nav and "Devices" not in nav
    assert not browser.find_elements(By.ID, "admin-nav")
    assert "Inbox" in nav and "Contacts" in nav  # her own received faxes, her address book
    go(browser, "admin/security", "main .notice")
    assert "for administrators" in browser.find_element(By.CSS_SELECTOR, "main").text
    csrf = json.loads(fetch(browser, "GET", "/api/v1/session")[1])["csrf_token"]
    with_token = {"X-CSRF-Token": csrf, "Content-Type": "application/json"}
    for method, path, payload in (
        ("GET", "/api/v1/users", None),
        ("GET", "/api/v1/audit", None),
        ("GET", "/api/v1/archive/incoming?user=olga", None),
        ("POST", "/api/v1/outbound/groups", {"name": "mine", "devices": [1]}),
        ("PATCH", "/api/v1/config", {"retries": 9}),
        ("POST", "/api/v1/ports/1/handles", {"mode": "modify"}),
        ("PUT", "/api/v1/routing/methods/order", {"order": []}),
        ("POST", "/api/v1/users", {"name": "mallory", "role": "administrator"}),
    ):
        status, body = fetch(browser, method, path, with_token, payload)
        assert status == 403, (method, path, body)
        assert json.loads(body)["title"] == "AccessDenied"
    # Phone-sized: the menu folds above the page, nothing needs a sideways scroll.
    browser.set_window_size(390, 844)
    go(browser, "send", "#send-form")
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390
    shoot(browser, "phone")


def test_a_post_without_the_csrf_token_is_refused(
    browser: WebDriver, console: LanfaxServer
) -> None:
    log_in(browser, console.url, "alice")
    status, body = fetch(browser, "POST", "/api/v1/tokens", {"Content-Type": "application/json"})
    assert status == 403 and "CSRF" in json.loads(body)["detail"]
    # A plain HTML form post, as another page could make: refused, nothing created.
    before = httpx.get(f"{console.api}/tokens", params={"user": "alice"}).json()
    browser.execute_script(
        """
        const f = document.createElement('form');
        f.method = 'post'; f.action = '/api/v1/tokens'; f.enctype = 'text/plain';
        const i = document.createElement('input');
        i.name = '{"label": "forged", "x": "'; i.value = '"}';
        f.appendChild(i); document.body.appendChild(f); f.submit();
        """
    )
    wait(browser).until(lambda d: "/api/v1/tokens" in d.current_url)
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "CSRF" in text and "403" in text
    assert httpx.get(f"{console.api}/tokens", params={"user": "alice"}).json() == before


def test_contacts_and_sending_to_a_name(
    browser: WebDriver, console: LanfaxServer, shoot: Shoot, tmp_path: Path
) -> None:
    doc = tmp_path / "note.txt"
    doc.write_text("For Bob, by name.\n")
    log_in(browser, console.url, "alice")
    go(browser, "contacts", "#contacts-table")
    for label, value in (("Name", "Bob Builder"), ("Fax number", "101"), ("Company", "Acme")):
        field = browser.find_element(
            By.XPATH, f"//form[@aria-label='Add a contact']//label[text()='{label}']"
        )
        browser.find_element(By.ID, field.get_attribute("for")).send_keys(value)
    browser.find_element(By.XPATH, "//button[text()='Add contact']").click()
    row = wait(browser).until(
        lambda d: (
            [
                r
                for r in d.find_elements(By.CSS_SELECTOR, "#contacts-table tbody tr")
                if "Bob Builder" in r.text
            ]
            or None
        )
    )[0]
    shoot(browser, "contacts")
    # "fax" opens the form with the contact as recipient; the server resolves @name.
    row.find_element(By.LINK_TEXT, "fax").click()
    number = css(browser, "#send-form input[name=recipient_number]")
    assert number.get_attribute("value") == "@Bob Builder"
    browser.find_element(By.CSS_SELECTOR, "#send-form input[type=file]").send_keys(str(doc))
    browser.find_element(By.ID, "send-button").click()
    row = css(browser, "#outbox-table tbody tr")
    job_id = int(row.get_attribute("id").split("-")[1])
    css(browser, f"#job-{job_id}[data-status=completed]", timeout=120)
    job = httpx.get(f"{console.api}/jobs/{job_id}").json()
    assert job["recipient_number"] == "101" and job["recipient_name"] == "Bob Builder"
    assert "Bob Builder 101" in browser.find_element(By.ID, f"job-{job_id}").text
    # An unknown name: the error is beside the recipients.
    go(browser, "send", "#send-form")
    browser.find_element(By.CSS_SELECTOR, "#send-form input[type=file]").send_keys(str(doc))
    browser.find_element(By.NAME, "recipient_number").send_keys("@Nobody")
    browser.find_element(By.ID, "send-button").click()
    assert "Nobody" in css(browser, "[data-field-error=recipients]").text
    assert go(browser, "drafts", "#no-drafts").text == "No drafts."
    shoot(browser, "drafts")
