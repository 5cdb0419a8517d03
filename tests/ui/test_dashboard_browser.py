"""`nasforge dashboard` in a real headless Chromium (Debian's chromium + chromium-driver,
installed by .ci/run), one server on a store filled by real searches (an MLP search over
epochs, a cell search): every page, opened by its URL, must render without an exception box
or traceback; a link with a search and trial opens that trial; the Pareto chart renders its
points and choosing a trial puts it in the URL. Screenshots are kept (pytest's tmp_path;
copied to $NASFORGE_TEST_ARTIFACTS when set). Skipped where Chromium is not installed,
except under CI, where it must run."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from dashboard_helpers import real_store

from nasforge.ui.dashboard import links

pytestmark = pytest.mark.slow  # a dashboard server and a browser: seconds

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-dev-shm-usage", "--window-size=1400,1800")


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
        import streamlit  # noqa: F401
    except ImportError as err:
        return f"{err.name} is not installed (pip install -e '.[dashboard]')"
    for path in (CHROMIUM, DRIVER):
        if not Path(path).exists():
            return f"{path} is missing (apt-get install chromium chromium-driver; .ci/run does)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, server: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"nasforge dashboard exited with {server.returncode}:\n"
                        f"{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"nasforge dashboard did not answer within {seconds} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def browser():
    reason = _missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test, but {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One `nasforge dashboard` for every test, its store URL given as NASFORGE_STORAGE."""
    folder = tmp_path_factory.mktemp("dashboard_browser")
    url = real_store(folder)
    port = _free_port()
    log = folder / "dashboard.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "nasforge", "dashboard", "--port", str(port)],
            env={**os.environ, "NASFORGE_STORAGE": url}, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    address = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(address, process, log)
        yield address, process.pid, url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def _save(driver, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / name
    driver.save_screenshot(str(shot))
    target = os.environ.get("NASFORGE_TEST_ARTIFACTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / name)
    return shot


EXCEPTION = "[data-testid='stException']"
ERROR = "[data-testid='stAlertContentError']"


def _open(driver, address: str, path: str, heading: str, tmp_path: Path) -> None:
    """Open `path`, wait until its heading shows and the script has finished, and fail on
    an exception box, an error box or a traceback."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{address}/{path}")
    wait = WebDriverWait(driver, 60)
    try:
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, EXCEPTION) or d.find_elements(
            By.XPATH, f"//h1[contains(., '{heading}')] | //h2[contains(., '{heading}')]"))
        wait.until(lambda d: d.find_elements(
            By.CSS_SELECTOR, "[data-testid='stApp'][data-test-script-state='notRunning']"))
    except Exception:
        _save(driver, tmp_path, "dashboard_timeout.png")
        raise
    shown = [e.text for e in driver.find_elements(By.CSS_SELECTOR, f"{EXCEPTION}, {ERROR}")]
    if shown or "Traceback" in driver.find_element(By.TAG_NAME, "body").text:
        _save(driver, tmp_path, f"dashboard_error_{path.split('?')[0] or 'root'}.png")
        pytest.fail(f"/{path} shows an exception or error: {shown}")


def _plot_drawn(driver, title: str, marks: str) -> bool:
    """Whether the Plotly chart titled `title` has drawn its `marks` (a CSS selector)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:  # a rerun may replace a chart while it is read
        return any(plot.find_elements(By.CSS_SELECTOR, marks)
                   for plot in driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")
                   if any(title in t.text for t in plot.find_elements(By.CSS_SELECTOR,
                                                                      ".gtitle")))
    except StaleElementReferenceException:
        return False


def test_the_server_command_line_holds_no_store_url(server):
    _, pid, url = server
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert b"streamlit" in b" ".join(argv)
    assert not any(url.encode() in part or b"sqlite:" in part for part in argv), argv


@pytest.mark.parametrize("search", ["mlp", "cell"])
def test_every_page_opens_by_its_url_without_an_error(browser, server, tmp_path, search):
    from selenium.webdriver.common.by import By

    address = server[0]
    for page in links.PAGES:
        query = f"?search={search}" if page.needs_search else ""
        _open(browser, address, page.url_path + query, page.title.split()[0], tmp_path)
        assert not browser.find_elements(By.CSS_SELECTOR,
                                         "[data-testid='stAppDeployButton']"), "Deploy shown"
        if page.needs_search:
            assert search in browser.find_element(By.TAG_NAME, "h2").text


def test_a_link_with_a_search_and_trial_opens_that_trial(browser, server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    _open(browser, server[0], "trial?search=cell&trial=1", "Trial detail", tmp_path)
    wait.until(ec.visibility_of_element_located(
        (By.XPATH, "//*[contains(text(), 'Trial 1: COMPLETE')]")))
    _open(browser, server[0], "pareto?search=mlp&trial=2", "Pareto front", tmp_path)
    wait.until(ec.visibility_of_element_located(
        (By.XPATH, "//*[contains(text(), 'Trial 2: COMPLETE')]")))
    wait.until(ec.visibility_of_element_located(
        (By.XPATH, "//button[.//p[text()='Export model.py']]")))
    wait.until(lambda d: _plot_drawn(d, "Layer stack of trial 2", ".barlayer .point path"))
    shot = _save(browser, tmp_path, "dashboard_pareto_trial.png")
    assert shot.stat().st_size > 10_000


def test_pareto_chart_renders_and_a_chosen_trial_goes_into_the_url(browser, server,
                                                                   tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    _open(browser, server[0], "pareto?search=mlp", "Pareto front", tmp_path)
    try:
        wait.until(lambda d: len(d.find_elements(
            By.CSS_SELECTOR, ".js-plotly-plot .scatterlayer .trace .point")) >= 4)
    except Exception:
        _save(browser, tmp_path, "dashboard_no_chart.png")
        raise AssertionError("the Pareto chart did not render its 4 points") from None
    assert len(browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .scatterlayer .trace")
               ) == 2  # dominated + front
    selector = wait.until(ec.element_to_be_clickable(
        (By.CSS_SELECTOR, "input[role='combobox'][aria-label^='Open trial']")))
    selector.click()
    option = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "[role='option']")))
    number = option.text.strip()
    option.click()
    wait.until(ec.visibility_of_element_located(
        (By.XPATH, f"//*[contains(text(), 'Trial {number}: COMPLETE')]")))
    wait.until(lambda d: f"trial={number}" in d.current_url)
    assert "search=mlp" in browser.current_url
