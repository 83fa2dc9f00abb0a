"""The generated site in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``) driven by Selenium, the site opened from disk (``file://``).

The tests type a search, apply filters, sort columns, open a model page, follow a fact's
source line, and walk the index with the keyboard. Screenshots of the index (wide and
narrow) are saved in the test's tmp folder. Without Chromium the tests skip and say how
to install it (``.ci/run`` installs it where it can).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRunner
from zoo.catalog.reader import Catalog

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
#: What this machine's Chromium needs to start headless, and never reach the network on its own.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1000",
)
INSTALL = "apt-get install -y chromium chromium-driver (.ci/run does this when run as root)"


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    """One headless Chromium for the module, with a fresh profile."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (dev dependency)")
    from selenium.webdriver.chrome.service import Service

    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(f"Chromium or chromedriver not found on PATH: {INSTALL}")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="zoo-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager (which downloads drivers) never runs.
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(30)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def site(site_env: Path, tmp_path: Path, run_cli: CliRunner, driver: Any) -> Path:
    out = tmp_path / "site"
    code, _, stderr = run_cli("site", "--out", out)
    assert code == 0, stderr
    driver.set_window_size(1280, 1000)
    driver.get_log("browser")  # start each test with an empty console
    return out


def wait(driver: Any, condition: Any, timeout: float = 5.0) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def by(how: str) -> str:
    from selenium.webdriver.common.by import By

    return str(getattr(By, how))


def click(driver: Any, element: Any) -> None:
    """Scroll an element to the middle of the window (as a reader would), then click it."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def visible_names(driver: Any) -> list[str]:
    return driver.execute_script(  # type: ignore[no-any-return]
        "return Array.from(document.querySelectorAll('#rows tr:not([hidden]) th a'))"
        ".map(a => a.textContent)"
    )


def count_text(driver: Any) -> str:
    return driver.find_element(by("ID"), "count").text  # type: ignore[no-any-return]


def console_errors(driver: Any) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_search_filter_sort_and_open_a_model(site: Path, driver: Any, tmp_path: Path) -> None:
    from selenium.webdriver.support.ui import Select

    manifests = Catalog().list()
    total = len(manifests)
    driver.get((site / "index.html").as_uri())
    assert driver.title == "zoo: vision backbone catalogue"
    assert count_text(driver) == f"{total} of {total} models"
    assert len(visible_names(driver)) == total
    driver.save_screenshot(str(tmp_path / "index.png"))

    # Search as one types: a Hugging Face repository id, which is not in any name.
    search = driver.find_element(by("ID"), "q")
    search.send_keys("example-org")
    wait(driver, lambda d: count_text(d) == f"2 of {total} models")
    assert visible_names(driver) == ["pathology/histo_vit", "pathology/histo_vit_mean"]
    assert "q=example-org" in driver.execute_script("return location.hash")

    # Filters instead: non-commercial entries of one group.
    click(driver, driver.find_element(by("ID"), "reset"))
    wait(driver, lambda d: count_text(d) == f"{total} of {total} models")
    Select(driver.find_element(by("ID"), "f-commercial")).select_by_value("no")
    Select(driver.find_element(by("ID"), "f-group")).select_by_value("pathology")
    expected = sorted(
        m.name
        for m in manifests
        if m.group == "pathology" and m.license is not None and not m.license.commercial
    )
    wait(driver, lambda d: count_text(d) == f"{len(expected)} of {total} models")
    assert visible_names(driver) == expected
    # The embedding dim range narrows it further (typed, debounced).
    driver.find_element(by("ID"), "f-dmin").send_keys("1024")
    driver.find_element(by("ID"), "f-dmax").send_keys("1024")
    wide = sorted(
        n
        for n in expected
        if next(m for m in manifests if m.name == n).output.embedding_dim == 1024
    )
    wait(driver, lambda d: visible_names(d) == wide)
    driver.save_screenshot(str(tmp_path / "index-filtered.png"))

    # Sortable columns: by embedding dim, then the other way.
    click(driver, driver.find_element(by("ID"), "reset"))
    wait(driver, lambda d: count_text(d) == f"{total} of {total} models")
    header = driver.find_element(by("CSS_SELECTOR"), 'th[data-key="d"]')
    click(driver, header.find_element(by("TAG_NAME"), "button"))
    dims = [m.output.embedding_dim for m in sorted(manifests, key=lambda m: m.name)]

    def shown_dims() -> list[int]:
        return [
            int(v)
            for v in driver.execute_script(
                "return Array.from(document.querySelectorAll('#rows tr:not([hidden]) td:nth-child(3)'))"
                ".map(td => td.textContent)"
            )
        ]

    assert shown_dims() == sorted(dims)
    assert header.get_attribute("aria-sort") == "ascending"
    click(driver, header.find_element(by("TAG_NAME"), "button"))
    assert shown_dims() == sorted(dims, reverse=True)
    assert header.get_attribute("aria-sort") == "descending"
    name_header = driver.find_element(by("CSS_SELECTOR"), 'th[data-key="n"]')
    assert name_header.get_attribute("aria-sort") is None

    # A model page: its facts, its manifest, its usage.
    click(
        driver,
        driver.find_element(by("CSS_SELECTOR"), '#rows a[href="models/pathology/histo_vit.html"]'),
    )
    wait(driver, lambda d: d.find_element(by("TAG_NAME"), "h1").text == "pathology/histo_vit")
    facts = driver.find_element(by("CSS_SELECTOR"), "table.facts").text
    assert "output.embedding_dim" in facts
    assert "1024" in facts
    assert "CC-BY-NC-4.0" in facts
    assert 'zoo.load("pathology/histo_vit")' in driver.find_element(by("ID"), "code-python").text
    assert "class_path: zoo.Backbone" in driver.find_element(by("ID"), "code-config").text
    assert "name: pathology/histo_vit" in driver.find_element(by("CSS_SELECTOR"), "pre.yaml").text
    same = driver.find_element(by("CSS_SELECTOR"), '[aria-labelledby="same"]').text
    assert "pathology/histo_vit_mean" in same
    # A fact's source is a line of the manifest: following it marks that line.
    source = "//tr[th/code[text()='output.pooling']]//a[starts-with(@href, '#L')]"
    click(driver, driver.find_element(by("XPATH"), source))
    target = driver.execute_script("return document.querySelector(':target').textContent")
    assert "pooling: cls" in target
    # Copy buttons: copied, or (where the clipboard is refused) the snippet is selected.
    click(driver, driver.find_element(by("CSS_SELECTOR"), 'button[data-copy="code-cli"]'))
    wait(driver, lambda d: d.find_element(by("ID"), "copy-status").get_attribute("textContent"))
    driver.save_screenshot(str(tmp_path / "model.png"))

    assert console_errors(driver) == []
    for shot in ("index.png", "index-filtered.png", "model.png"):
        assert (tmp_path / shot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_keyboard_navigation_and_labelled_controls(site: Path, driver: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    driver.get((site / "index.html").as_uri())

    def active() -> Any:
        return driver.switch_to.active_element

    keys = ActionChains(driver)
    keys.send_keys(Keys.TAB).perform()
    assert active().get_attribute("class") == "skip-link"
    assert active().text == "Skip to the model search"
    ActionChains(driver).send_keys(Keys.ENTER).perform()
    ActionChains(driver).send_keys(Keys.TAB).perform()
    assert active().get_attribute("id") == "q"
    # The focused control is visibly marked.
    outline = driver.execute_script("return getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")
    ActionChains(driver).send_keys("example-org").perform()
    wait(driver, lambda d: len(visible_names(d)) == 2)
    ActionChains(driver).send_keys(Keys.ESCAPE).perform()
    wait(driver, lambda d: len(visible_names(d)) > 2)

    # Tab order goes on through the filters, each control with a name a screen reader reads.
    seen = []
    for _ in range(14):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        el = active()
        seen.append(el.get_attribute("id") or el.get_attribute("data-key") or el.tag_name)
        assert el.accessible_name.strip(), f"{seen[-1]} has no accessible name"
    assert seen[:10] == [
        "reset",
        "f-group",
        "f-kind",
        "f-wrapper",
        "f-license",
        "f-commercial",
        "f-gated",
        "f-pooling",
        "f-input",
        "f-source",
    ]
    controls = driver.find_elements(
        by("CSS_SELECTOR"), "#filters input, #filters select, #filters button, #models thead button"
    )
    assert len(controls) >= 15
    assert [
        c.get_attribute("id") or c.text for c in controls if not c.accessible_name.strip()
    ] == []

    # Sorting from the keyboard: a header button answers Enter.
    button = driver.find_element(by("CSS_SELECTOR"), 'th[data-key="pm"] button')
    button.send_keys(Keys.ENTER)
    header = driver.find_element(by("CSS_SELECTOR"), 'th[data-key="pm"]')
    assert header.get_attribute("aria-sort") == "ascending"

    # "/" jumps to the search box from anywhere on the page.
    driver.find_element(by("TAG_NAME"), "h1").click()
    ActionChains(driver).send_keys("/").perform()
    assert active().get_attribute("id") == "q"
    assert driver.find_element(by("ID"), "q").get_attribute("value") == ""

    # Narrow screens: no horizontal scrolling of the page itself (the table scrolls in its box).
    driver.set_window_size(420, 900)
    overflow = driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    driver.save_screenshot(str(tmp_path / "index-narrow.png"))
    assert overflow <= 1
    assert console_errors(driver) == []


def test_hostile_text_stays_text_and_links_restore_filters(site: Path, driver: Any) -> None:
    from tests.site.conftest import HOSTILE

    driver.get((site / "models" / "other" / "hostile.html").as_uri())
    assert driver.execute_script("return window.__pwned === undefined")
    description = driver.find_element(by("CSS_SELECTOR"), ".description").text
    assert HOSTILE in description
    assert driver.find_elements(by("CSS_SELECTOR"), "main img") == []

    # A shared link (state in the URL) opens the index already filtered.
    total = len(Catalog())
    driver.get((site / "index.html").as_uri() + "#commercial=unknown")
    assert visible_names(driver) == ["other/resnet_fn"]
    assert count_text(driver) == f"1 of {total} models"
    assert driver.find_element(by("ID"), "f-commercial").get_attribute("value") == "unknown"
    # The licence figure's cells are such links.
    cell = driver.find_element(
        by("CSS_SELECTOR"), 'svg a[href="#license=CC-BY-NC-4.0&commercial=no"]'
    )
    click(driver, cell)
    # The bundled catalogue stays in, so its CC-BY-NC-4.0 entries (Digepath) are listed too.
    same_terms = sorted(
        m.name
        for m in Catalog()
        if m.license and m.license.id == "CC-BY-NC-4.0" and not m.license.commercial
    )
    assert {"pathology/histo_vit", "pathology/histo_vit_mean"} <= set(same_terms)
    wait(driver, lambda d: sorted(visible_names(d)) == same_terms)
    assert driver.execute_script("return window.__pwned === undefined")
    assert console_errors(driver) == []


def test_a_large_catalogue_shows_the_first_rows_then_all(
    site_env: Path,
    tmp_path: Path,
    run_cli: CliRunner,
    driver: Any,
    write_manifest: Any,
    tiny_manifest_data: Any,
) -> None:
    from zoo.site._index import SHOWN

    for i in range(SHOWN + 10):
        write_manifest(site_env, tiny_manifest_data(f"many/vit_{i:03d}", tags=["many"]))
    out = tmp_path / "site"
    assert run_cli("site", "--out", out)[0] == 0
    total = len(Catalog())
    driver.set_window_size(1280, 1000)
    driver.get((out / "index.html").as_uri())
    assert count_text(driver) == f"{total} of {total} models match; showing the first {SHOWN}"
    assert len(visible_names(driver)) == SHOWN
    more = driver.find_element(by("ID"), "more")
    assert more.text == f"Show all {total}"
    click(driver, more)
    assert len(visible_names(driver)) == total
    assert count_text(driver) == f"{total} of {total} models"
    assert not more.is_displayed()
    assert driver.switch_to.active_element.get_attribute("class") == "table-wrap"
    # A new search starts from the budget again; a small result shows whole.
    search = driver.find_element(by("ID"), "q")
    click(driver, search)
    search.send_keys("many/vit_0")
    wait(driver, lambda d: count_text(d) == f"100 of {total} models")
    assert not more.is_displayed()
    search.clear()
    search.send_keys("many/vit")
    many = SHOWN + 10
    wait(
        driver,
        lambda d: count_text(d) == f"{many} of {total} models match; showing the first {SHOWN}",
    )
    assert len(visible_names(driver)) == SHOWN
    assert more.text == f"Show all {many}"
    # Sorting shows the first rows of the new order.
    click(driver, driver.find_element(by("CSS_SELECTOR"), 'th[data-key="n"] button'))
    assert visible_names(driver)[0] == f"many/vit_{SHOWN + 9:03d}"
    assert console_errors(driver) == []
