"""`nasforge dashboard` in a real headless Chromium (Debian's chromium + chromium-driver,
installed by .ci/run): the Pareto chart must render with points, choosing a trial must open
its detail, and a screenshot is kept (pytest's tmp_path; copied to $NASFORGE_TEST_ARTIFACTS
when set). Skipped where Chromium is not installed, except under CI, where it must run."""

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
from dashboard_helpers import digits_store

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


@pytest.fixture
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


@pytest.fixture
def server(tmp_path):
    url = digits_store(tmp_path)
    port = _free_port()
    log = tmp_path / "dashboard.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "nasforge", "dashboard", "--storage", url, "--port",
             str(port)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(address, process, log)
        yield address
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


def test_pareto_chart_renders_and_a_trial_opens(browser, server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    browser.get(server)
    page = wait.until(ec.element_to_be_clickable(
        (By.XPATH, "//section[@data-testid='stSidebar']//label[.//p[text()='Pareto front']]")))
    page.click()
    try:
        wait.until(lambda d: len(d.find_elements(
            By.CSS_SELECTOR, ".js-plotly-plot .scatterlayer .trace .point")) >= 11)
    except Exception:
        _save(browser, tmp_path, "dashboard_no_chart.png")
        raise AssertionError("the Pareto chart did not render its 11 points") from None
    front = browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .scatterlayer .trace")
    assert len(front) == 2  # dominated + front
    selector = wait.until(ec.element_to_be_clickable(
        (By.CSS_SELECTOR, "input[role='combobox'][aria-label^='Open trial']")))
    selector.click()
    option = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "[role='option']")))
    number = option.text.strip()
    option.click()
    heading = wait.until(ec.visibility_of_element_located(
        (By.XPATH, f"//*[contains(text(), 'Trial {number}: COMPLETE')]")))
    assert heading.is_displayed()
    wait.until(ec.visibility_of_element_located(
        (By.XPATH, "//button[.//p[text()='Export model.py']]")))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")) >= 2)
    time.sleep(0.5)  # let the layer stack finish drawing for the screenshot
    shot = _save(browser, tmp_path, "dashboard_pareto_trial.png")
    assert shot.stat().st_size > 10_000
