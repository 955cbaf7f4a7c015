"""The console in a real headless Chromium (Debian ``chromium`` + ``chromium-driver``, driven
by Selenium) against a real ``lanfax serve`` on a free loopback port.

``console``: the server (default virtual lines 100 and 101, sent faxes archived) with three
users: ``admin`` (administrator), ``alice`` (user) and ``olga`` (operator), each with the
password ``<name>-password``. ``browser``: one Chromium for the module, its cookies cleared
before each test. ``shoot(browser, name)`` saves a screenshot: into ``$LANFAX_SCREENSHOTS``
when set (``LANFAX_SCREENSHOTS=docs/console`` refreshes the manual's pictures), else into the
test's temporary directory, so that a test run never changes the repository.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.support.authhttp import httpx
from tests.support.server import LanfaxServer, start_lanfax_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

TOML = """
[settings]
archive_outgoing_faxes = true
"""

USERS = {"admin": "administrator", "alice": "user", "olga": "operator"}


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanfaxServer]:
    from lanfax.web import vendor_missing

    # scripts/bootstrap.sh installs all of it: a missing piece fails the tests, never skips them.
    assert not vendor_missing(), "the console's npm packages are missing: scripts/bootstrap.sh"
    srv = start_lanfax_server(tmp_path_factory.mktemp("console"), TOML)
    try:
        for name, role in USERS.items():
            if name == "admin":
                r = httpx.patch(f"{srv.api}/users/admin", json={"password": "admin-password"})
                assert r.status_code == 200, r.text
                continue
            r = httpx.post(
                f"{srv.api}/users",
                json={"name": name, "role": role, "password": f"{name}-password"},
            )
            assert r.status_code == 201, r.text
        yield srv
    finally:
        srv.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    assert os.path.exists(CHROMIUM) and os.path.exists(DRIVER), (
        "needs Debian chromium and chromium-driver (scripts/bootstrap.sh installs them)"
    )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1200,860",
        "--lang=en-US",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(chromium: object, console: LanfaxServer) -> Iterator[object]:
    from selenium.webdriver.remote.webdriver import WebDriver

    assert isinstance(chromium, WebDriver)
    chromium.get(console.url + "/api/v1/health")
    chromium.delete_all_cookies()
    chromium.set_window_size(1200, 860)
    yield chromium
    # The page must not have thrown: a JavaScript error fails the test that caused it.
    errors = [
        e
        for e in chromium.get_log("browser")
        if e["level"] == "SEVERE" and e.get("source") != "network"
    ]
    assert not errors, errors


@pytest.fixture
def shoot(tmp_path: Path) -> Callable[[object, str], Path]:
    """Save a small (palette) PNG of the browser's window as ``<name>.png``."""
    from PIL import Image

    where = Path(os.environ.get("LANFAX_SCREENSHOTS") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)

    def save(driver: object, name: str) -> Path:
        png = driver.get_screenshot_as_png()  # type: ignore[attr-defined]
        image = Image.open(io.BytesIO(png)).convert("RGB")
        small = image.quantize(colors=64, method=Image.Quantize.MEDIANCUT)
        out = where / f"{name}.png"
        small.save(out, optimize=True)
        return out

    return save
