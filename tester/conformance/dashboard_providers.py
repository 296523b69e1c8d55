"""Drives the dashboard's Providers page in real headless Chromium: create a provider in the
form (pointing at a fake upstream), test it (latency shown), fetch its model list, send a
request through it with the openai SDK, change its models, delete it; accessible names,
keyboard order and no console errors checked. Reuses dashboard_browser.py's helpers.

Usage: dashboard_providers.py BASE_URL ADMIN_KEY CLIENT_KEY SCREENSHOT_DIR
(env: DASHBOARD_FAKE_URL, the fake's base URL; DASHBOARD_ADDED_KEY, the new account's key).
Prints one JSON report: {"checks": [...], "failures": [...]}.
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dashboard_browser as b  # noqa: E402  (its argv is ours: same four arguments)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

FAKE = os.environ["DASHBOARD_FAKE_URL"]
KEY = os.environ["DASHBOARD_ADDED_KEY"]
check = b.check


def row(name):
    return f"//table[@id='providers']//tr[td[1][text()='{name}']]"


def cell(driver, name, n):
    found = driver.find_elements(By.XPATH, f"{row(name)}/td[{n}]")
    return found[0].text if found else ""


def run(driver):
    driver.get(b.BASE + "/ui/login")
    driver.find_element(By.ID, "key").send_keys(b.ADMIN + Keys.ENTER)
    b.wait(driver, EC.title_contains("Overview"), "the overview after sign-in")
    driver.get(b.BASE + "/ui/providers")
    b.wait(driver, EC.title_contains("Providers"), "the providers page")
    check("the file's provider is listed as from file", cell(driver, "p", 7) == "from file", cell(driver, "p", 7))
    check("the file's provider offers no change",
          not driver.find_elements(By.XPATH, f"{row('p')}//form")
          and not driver.find_elements(By.XPATH, f"{row('p')}//button[text()='Delete']"))
    check("the file's provider's key is masked", "sk-providers-file-key" not in driver.page_source)
    b.accessible(driver, "providers")

    # Keyboard: the form's fields are reached in order with Tab, and Enter submits it.
    form = driver.find_element(By.CSS_SELECTOR, "form[aria-label='New provider']")
    form.find_element(By.NAME, "name").send_keys("web")
    driver.switch_to.active_element.send_keys(Keys.TAB)
    check("Tab goes from the name to the kind", driver.switch_to.active_element.get_attribute("name") == "kind",
          driver.switch_to.active_element.get_attribute("name"))
    Select(form.find_element(By.NAME, "kind")).select_by_value("openai")
    form.find_element(By.NAME, "base_url").send_keys(FAKE)
    form.find_element(By.NAME, "models").send_keys("m1, m9")
    form.find_element(By.NAME, "accounts[0].name").send_keys("k1")
    form.find_element(By.NAME, "accounts[0].api_key").send_keys(KEY + Keys.ENTER)
    made = b.wait(driver, EC.presence_of_element_located((By.XPATH, row("web"))), "the new provider")
    check("a provider made in the page is listed from the database",
          made is not None and cell(driver, "web", 7) == "database" and cell(driver, "web", 4) == "m1, m9",
          made.text if made else "")
    check("the new provider's key is shown masked only",
          KEY not in driver.page_source and KEY[:4] + "***" in cell(driver, "web", 6), cell(driver, "web", 6))

    # Test it: one tiny request, its status and latency shown beside the button.
    driver.find_element(By.CSS_SELECTOR, "button[aria-label='Test web']").click()
    out = f"{row('web')}/td[8]//output"
    b.wait(driver, lambda d: d.find_element(By.XPATH, out).text.startswith(("ok", "failed")), "the test's result", 20)
    result = driver.find_element(By.XPATH, out).text
    check("the test shows ok, the status and the latency", re.fullmatch(r"ok · 200 · \d+ ms", result) is not None, result)

    # Its own model list, fetched on demand, beside the configured models.
    driver.find_element(By.CSS_SELECTOR, "button[aria-label='Refresh the model list of web']").click()
    b.wait(driver, lambda d: "3 models" in cell(d, "web", 5), "the fetched model list", 15)
    listed = driver.find_element(By.XPATH, f"{row('web')}/td[5]")
    listed.find_element(By.TAG_NAME, "summary").click()
    check("the provider's own model list is shown", "gpt-4.1-mini" in listed.text and "fetched" in listed.text,
          listed.text)

    got = b.served_model("web/m1")
    check("the openai SDK is served through the new provider", got == "m1", got)

    # Edit: new models, the account and its key kept.
    edit = driver.find_element(By.CSS_SELECTOR, "form[aria-label='Edit provider web'] input[name='models']")
    edit.clear()
    edit.send_keys("m1, m2" + Keys.ENTER)
    b.wait(driver, lambda d: cell(d, "web", 4) == "m1, m2", "the edited models", 15)
    got = b.served_model("web/m2")
    check("an edited provider serves its new model with its kept key", got == "m2", got)
    b.accessible(driver, "providers with one made")
    b.console_clean(driver, "providers")
    b.shot(driver, "11-providers")

    driver.find_element(By.CSS_SELECTOR, "button[aria-label='Delete provider web']").click()
    driver.switch_to.alert.accept()
    b.wait(driver, EC.invisibility_of_element_located((By.XPATH, row("web"))), "the provider to go", 15)
    check("a deleted provider is gone from the page", not driver.find_elements(By.XPATH, row("web")))
    got = b.served_model("web/m1")
    check("a deleted provider no longer serves", got.startswith("error"), got)
    b.console_clean(driver, "providers after delete")


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
