"""Drives instance A's dashboard overview in real headless Chromium while the requests were
served by instance B of the same cluster: A's own figures show none of them, and the cluster
chart (the whole cluster's requests per minute) counts every one. Reuses
dashboard_browser.py's helpers.

Usage: dashboard_cluster.py BASE_URL ADMIN_KEY CLIENT_KEY SCREENSHOT_DIR
(env: DASHBOARD_EXPECT, how many requests B served).
Prints one JSON report: {"checks": [...], "failures": [...]}.
"""

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dashboard_browser as b  # noqa: E402  (its argv is ours: same four arguments)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402

EXPECT = int(os.environ["DASHBOARD_EXPECT"])
check = b.check


def bar_values(driver, css):
    """The values the bars of the chart under `css` carry in their titles, and their count."""
    titles = driver.execute_script(
        "return [...document.querySelectorAll(arguments[0] + ' rect.bar:not(.err) title')]"
        ".map(t => t.textContent);", css)
    values = []
    for t in titles:
        m = re.search(r": ([0-9.]+) requests$", t)
        if m:
            values.append(float(m.group(1)))
    return values, len(titles)


def run(driver):
    driver.get(b.BASE + "/ui/login")
    driver.find_element(By.ID, "key").send_keys(b.ADMIN + Keys.ENTER)
    b.wait(driver, EC.title_contains("Overview"), "the overview after sign-in")
    # B's rows reach the cluster's minutes within a moment: reload until they are all in.
    deadline = time.time() + 15
    while True:
        driver.get(b.BASE + "/ui/?range=1h")
        found = b.wait(driver, EC.presence_of_element_located((By.ID, "cluster-minutes")), "the cluster chart")
        values, bars = bar_values(driver, "#cluster-minutes")
        if found is None or sum(values) >= EXPECT or time.time() > deadline:
            break
        time.sleep(0.2)
    check("the cluster chart has one bar a minute for the last hour", bars == 60, str(bars))
    check("the cluster chart counts every request B served", sum(values) == EXPECT,
          f"{sum(values)} counted, {EXPECT} expected")
    own, _ = bar_values(driver, "section:first-of-type")
    check("A's own chart counts none of them", sum(own) == 0, str(sum(own)))
    caption = driver.find_element(By.CSS_SELECTOR, "#cluster-minutes figcaption").text
    check("the cluster chart is named as the cluster's", "Cluster requests per minute" in caption, caption)
    b.accessible(driver, "overview in cluster mode")
    b.console_clean(driver, "overview in cluster mode")
    b.shot(driver, "12-overview-cluster")


def main():
    os.makedirs(b.SHOTS, exist_ok=True)
    driver = b.browser()
    try:
        run(driver)
    finally:
        driver.quit()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the report carries it; the Rust test fails on it
        b.failures.append(f"the script stopped: {type(e).__name__}: {e}")
    print(json.dumps({"checks": b.checks, "failures": b.failures}))
