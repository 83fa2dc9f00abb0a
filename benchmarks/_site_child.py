"""Child process of the site benchmark: the generated index in headless Chromium.

    python benchmarks/_site_child.py INDEX_HTML CHROMIUM CHROMEDRIVER

Opens the page from disk and measures inside it (``performance.now()``), each figure
including the style and layout work its DOM changes cause (``offsetHeight`` forces it):
the page load, every keystroke of a typed query (the filter the search box runs, with
the debounce left out), a filter change and a column sort. Prints ``BENCH {json}``
(milliseconds). Runs as a script so that nothing but Selenium is imported.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile

#: Typed one character at a time; then erased the same way.
QUERY = "vit large"
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
KEYSTROKE = """
const q = document.getElementById('q');
q.value = arguments[0];
const t = performance.now();
const shown = window.zooIndex.apply();
document.body.offsetHeight;
return [performance.now() - t, shown];
"""
FILTER = """
const el = document.getElementById('f-commercial');
el.value = arguments[0];
const t = performance.now();
window.zooIndex.apply();
document.body.offsetHeight;
return performance.now() - t;
"""
SORT = """
const t = performance.now();
window.zooIndex.sortBy(arguments[0], arguments[1]);
document.body.offsetHeight;
return performance.now() - t;
"""
LOAD = """
const nav = performance.getEntriesByType('navigation')[0];
return [nav.domContentLoadedEventEnd, nav.loadEventEnd, document.querySelectorAll('#rows tr').length];
"""


def main(index: str, chromium: str, chromedriver: str) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="zoo-bench-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(chromedriver), options=options)
        try:
            driver.get(index)
            ready, loaded, rows = driver.execute_script(LOAD)
            typed = [QUERY[:i] for i in range(1, len(QUERY) + 1)]
            keystrokes, shown = [], []
            for text in [*typed, *reversed(typed[:-1]), ""]:
                ms, count = driver.execute_script(KEYSTROKE, text)
                keystrokes.append(ms)
                shown.append(count)
            filters = [driver.execute_script(FILTER, v) for v in ("no", "yes", "", "no", "")]
            sorts = [
                driver.execute_script(SORT, key, direction)
                for key, direction in (("d", 1), ("d", -1), ("pm", 1), ("n", 1))
            ]
        finally:
            driver.quit()
    report = {
        "rows": rows,
        "dom_ready_ms": ready,
        "load_ms": loaded,
        "keystroke_ms": statistics.median(keystrokes),
        "keystroke_max_ms": max(keystrokes),
        "filter_ms": statistics.median(filters),
        "sort_ms": statistics.median(sorts),
        "fewest_matched": min(shown),
    }
    print("BENCH " + json.dumps(report))


if __name__ == "__main__":
    main(*sys.argv[1:4])
