"""The device web app, walked in headless Chromium as a person would use it.

Sign up (bad input first: field violations beside their fields), a kids
profile that looks different and never shows a title above its limit (also
not through the Back button after switching), the home screen with its
posters loaded, search with a typo (suggestions as you type, facets),
watching a title until it shows in continue watching, changing a maturity
limit, deleting the account; on desktop, phone and TV viewports, with
axe-core finding no serious accessibility violation on home and search.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from services.ratings import KIDS_LIMIT, allows
from tests.web.conftest import PHONE, TV, WebMesh, new_page, screenshots_dir

PASSWORD = "correct horse battery"
AXE = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "axe-core" / "axe.min.js"
# Titles of the e2e sample catalog (tests/e2e/data/titles_sample.csv).
ADULT_TITLE = "Dick Johnson Is Dead"  # rated PG-13: above a kids profile's PG
TYPO_QUERY = "Angelina Balerina"  # "Angelina Ballerina", rated TV-Y
TYPO_TARGET = "Angelina Ballerina"
BLOCKING_IMPACTS = {"serious", "critical"}


async def sign_up(page: Page, first_name: str = "Ada") -> str:
    email = f"viewer.{uuid.uuid4().hex[:10]}@example.com"
    await page.goto("/#/signup")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("First name").fill(first_name)
    await page.get_by_label("Last name").fill("Lovelace")
    await page.get_by_label("Country").select_option("GB")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="Who's watching?")).to_be_visible()
    # The primary profile is listed (the page's layout is settled).
    await expect(page.locator(".profile-choice").first).to_be_visible()
    return email


async def choose_profile(page: Page, name: str) -> None:
    await page.goto("/#/profiles")
    await page.get_by_role("button", name=re.compile(rf"^{re.escape(name)}\b")).click()
    await expect(page.locator("[data-row]").first).to_be_visible()


async def add_kids_profile(page: Page, name: str = "Kids") -> None:
    await page.goto("/#/profiles")
    await page.get_by_label("Profile name").fill(name)
    await page.get_by_label(re.compile("^Kids profile")).check()
    await page.get_by_role("button", name="Add profile").click()
    await expect(page.get_by_role("button", name=re.compile(rf"^{name}\b"))).to_be_visible()


async def search(page: Page, query: str) -> None:
    await page.goto("/#/search")
    await page.get_by_role("combobox").fill(query)
    await page.get_by_role("combobox").press("Enter")
    await expect(page.get_by_role("heading", name=re.compile("results? for"))).to_be_visible()


async def title_id_of(page: Page, name: str) -> str:
    await search(page, name)
    link = page.locator(".result-link", has_text=name).first
    href = await link.get_attribute("href")
    assert href, f"no search result for {name!r}"
    return href.rsplit("/", 1)[1]


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    await page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = await page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}))"""
    )
    return [violation for violation in found if violation["impact"] in BLOCKING_IMPACTS]


async def images_loaded(page: Page, selector: str) -> tuple[int, int]:
    """(loaded, total) of the images under ``selector``, after scrolling each into view."""
    result: list[int] = await page.evaluate(
        """async (selector) => {
            const images = Array.from(document.querySelectorAll(selector));
            for (const image of images) { image.loading = "eager"; }
            await Promise.all(images.map(image => image.decode().catch(() => null)));
            return [images.filter(i => i.complete && i.naturalWidth > 0).length, images.length];
        }""",
        selector,
    )
    return result[0], result[1]


async def on_a_phone(
    page: Page, browser: Browser, web_mesh: WebMesh, path: Path, ready: str, text: str
) -> None:
    """A screenshot of ``page``'s screen on a phone, signed in as ``page`` is,
    once ``ready`` shows ``text`` and its images have loaded."""
    context, phone = await new_page(browser, web_mesh, PHONE, await page.context.storage_state())
    await phone.goto(page.url)
    await expect(phone.locator(ready).first).to_contain_text(text)
    await images_loaded(phone, "main img")
    await phone.evaluate("document.activeElement?.blur()")
    await phone.screenshot(path=str(path))
    await context.close()


# ------------------------------------------------------------------ tests


async def test_the_edge_serves_the_app_with_its_caching_rules(page: Page) -> None:
    response = await page.goto("/")
    assert response is not None
    assert response.status == 200
    assert response.headers["cache-control"] == "no-cache"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    script = await page.locator("script[type=module]").get_attribute("src")
    assert script
    assert re.fullmatch(r"/assets/main-[A-Z0-9]+\.js", script)
    asset = await page.request.get(script)
    assert asset.status == 200
    assert "immutable" in asset.headers["cache-control"]
    assert asset.headers["content-type"].startswith("text/javascript")
    # A path the app does not have is the API's JSON 404, not the page.
    missing = await page.request.get("/no/such/page")
    assert missing.status == 404
    assert (await missing.json())["code"] == 5


async def test_sign_up_shows_field_violations_beside_their_fields_then_signs_in(
    page: Page,
) -> None:
    await page.goto("/")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.get_by_role("link", name="Create an account").click()
    await page.get_by_label("Email").fill("not-an-email")
    await page.get_by_label("Password").fill("short")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("alert")).to_contain_text("needs a look")
    email_field = page.get_by_label("Email")
    await expect(email_field).to_have_attribute("aria-invalid", "true")
    described = await email_field.get_attribute("aria-describedby")
    assert described
    await expect(page.locator(f"#{described.split()[-1]}")).to_contain_text(re.compile("mail"))
    await expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")

    await sign_up(page)
    # The primary profile is there; choosing it opens the home screen.
    profiles = page.locator(".profile-choice")
    await expect(profiles).to_have_count(1)


async def test_a_wrong_password_is_said_in_words(page: Page) -> None:
    email = await sign_up(page)
    await page.get_by_role("link", name="Account and sign out").click()
    await page.get_by_role("button", name="Sign out").click()
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("do not match an account")


async def test_home_screen_rows_with_posters_keyboard_and_axe(
    page: Page, browser: Browser, web_mesh: WebMesh, tmp_path: Path
) -> None:
    await sign_up(page)
    await choose_profile(page, "Ada")
    rows = page.locator("[data-row]")
    assert await rows.count() >= 2
    loaded, total = await images_loaded(page, ".poster img")
    assert total > 0
    assert loaded == total, f"{loaded} of {total} posters loaded"
    # Arrow keys move along a row and down to the next (a TV remote's D-pad).
    first_row_links = rows.nth(0).locator(".card-link")
    await first_row_links.nth(0).focus()
    await page.keyboard.press("ArrowRight")
    await expect(first_row_links.nth(1)).to_be_focused()
    await page.keyboard.press("ArrowDown")
    await expect(rows.nth(1).locator(".card-link").nth(1)).to_be_focused()
    assert await axe_violations(page) == []
    shots = screenshots_dir(tmp_path)
    await page.keyboard.press("Escape")
    await page.mouse.move(0, 0)
    await page.evaluate("document.activeElement?.blur(); window.scrollTo(0, 0)")
    await page.screenshot(path=str(shots / "home-desktop.png"))
    # The same account on a phone and a TV: rows fit, nothing overflows the page.
    storage = await page.context.storage_state()
    for name, viewport in (("phone", PHONE), ("tv", TV)):
        context, other = await new_page(browser, web_mesh, viewport, storage)
        await other.goto("/#/home")
        await expect(other.locator("[data-row]").first).to_be_visible()
        await images_loaded(other, "[data-row]:first-of-type .poster img")
        overflow = await other.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name}: the page scrolls sideways by {overflow}px"
        if name == "phone":
            await other.screenshot(path=str(shots / "home-phone.png"))
        await context.close()


async def test_search_with_a_typo_suggests_finds_and_narrows(
    page: Page, browser: Browser, web_mesh: WebMesh, tmp_path: Path
) -> None:
    await sign_up(page)
    await choose_profile(page, "Ada")
    await page.goto("/#/search")
    box = page.get_by_role("combobox")
    await box.press_sequentially("Angel", delay=30)
    await expect(page.get_by_role("listbox")).to_be_visible()
    await expect(page.get_by_role("option", name=re.compile(TYPO_TARGET))).to_be_visible()
    await box.fill(TYPO_QUERY)
    await box.press("Escape")
    await expect(page.get_by_role("listbox")).to_be_hidden()
    await expect(box).to_have_value(TYPO_QUERY)
    await box.press("Enter")
    await expect(page.get_by_role("heading", name=re.compile("results? for"))).to_be_visible()
    results = page.locator(".result-link")
    await expect(results.first).to_contain_text(TYPO_TARGET)
    # Facets narrow the results; the chosen value is marked.
    facet = page.locator(".facet").first.locator("a").first
    chosen = (await facet.inner_text()).rsplit(" (", 1)[0]
    await facet.click()
    await expect(page.locator(".facet a[aria-current=true]").first).to_contain_text(chosen)
    assert await axe_violations(page) == []
    shots = screenshots_dir(tmp_path)
    await page.goto(f"/#/search?q={TYPO_QUERY.replace(' ', '+')}")
    await expect(results.first).to_contain_text(TYPO_TARGET)
    await page.evaluate("document.activeElement?.blur()")
    await page.screenshot(path=str(shots / "search-desktop.png"))
    await on_a_phone(
        page, browser, web_mesh, shots / "search-phone.png", ".result-link", TYPO_TARGET
    )


async def test_title_page_with_similar_titles(
    page: Page, browser: Browser, web_mesh: WebMesh, tmp_path: Path
) -> None:
    await sign_up(page)
    await choose_profile(page, "Ada")
    first_card = page.locator("[data-row] .card-link").first
    name = (await first_card.locator(".card-title").inner_text()).strip()
    await first_card.click()
    await expect(page.get_by_role("heading", level=1, name=name)).to_be_visible()
    await expect(page.get_by_role("link", name="Play")).to_be_visible()
    await expect(page.get_by_role("heading", name="More like this")).to_be_visible()
    loaded, total = await images_loaded(page, "main img")
    assert total > 1
    assert loaded == total
    shots = screenshots_dir(tmp_path)
    await page.evaluate("document.activeElement?.blur()")
    await page.screenshot(path=str(shots / "title-desktop.png"))
    await on_a_phone(page, browser, web_mesh, shots / "title-phone.png", "main h1", name)


async def test_a_kids_profile_looks_different_and_never_shows_a_title_above_its_limit(
    page: Page, tmp_path: Path
) -> None:
    await sign_up(page)
    await choose_profile(page, "Ada")
    adult_id = await title_id_of(page, ADULT_TITLE)
    await page.goto(f"/#/title/{adult_id}")
    await expect(page.get_by_role("heading", level=1, name=ADULT_TITLE)).to_be_visible()
    assert not await page.evaluate("document.body.classList.contains('kids')")

    await add_kids_profile(page)
    await choose_profile(page, "Kids")
    assert await page.evaluate("document.body.classList.contains('kids')")
    await expect(page.locator(".brand .badge")).to_have_text("Kids")
    await images_loaded(page, "[data-row]:first-of-type .poster img")
    await page.screenshot(path=str(screenshots_dir(tmp_path) / "home-kids-desktop.png"))
    ratings = await page.locator(".card-meta").all_inner_texts()
    assert ratings
    for meta in ratings:
        rating = meta.split(" · ")[-1]
        assert allows(KIDS_LIMIT, rating), f"a kids home card rated {rating}"
    # Back to the adult title the previous profile had open: refused, not shown from memory.
    await page.go_back()
    await page.go_back()
    await page.goto(f"/#/title/{adult_id}")
    await expect(page.get_by_role("heading", name="Not available on this profile")).to_be_visible()
    await expect(page.get_by_text(ADULT_TITLE)).to_have_count(0)
    await page.goto(f"/#/watch/{adult_id}")
    await expect(page.get_by_text("above Kids's maturity limit")).to_be_visible()
    # Search for it by name: nothing above the limit either.
    await search(page, ADULT_TITLE)
    for meta in await page.locator(".result-meta").all_inner_texts():
        assert allows(KIDS_LIMIT, meta.split(" · ")[1]), meta
    # The account page is the holder's, not a kids profile's.
    await expect(page.get_by_role("link", name="Account")).to_have_count(0)


async def test_watching_a_title_puts_it_in_continue_watching(page: Page) -> None:
    await sign_up(page)
    await choose_profile(page, "Ada")
    await expect(page.locator("[data-row=continue-watching]")).to_have_count(0)
    card = page.locator("[data-row] .card-link").first
    name = (await card.locator(".card-title").inner_text()).strip()
    await card.click()
    await page.get_by_role("link", name="Play").click()
    await page.get_by_role("button", name="Play").click()
    await page.get_by_role("button", name="Skip 10 min").click()
    await expect(page.get_by_role("status").filter(has_text="Progress saved")).to_be_visible()
    await page.get_by_role("button", name="Pause").click()
    await page.get_by_role("link", name="Home").first.click()
    row = page.locator("[data-row=continue-watching]")
    for _ in range(20):
        if await row.count():
            break
        await page.wait_for_timeout(500)
        await page.reload()
    await expect(row.locator(".card-title").first).to_have_text(name)
    await expect(row.locator(".card-progress").first).to_contain_text("left of")


async def test_changing_the_maturity_limit_runs_the_saga_and_shows_its_outcome(
    page: Page,
) -> None:
    await sign_up(page)
    await choose_profile(page, "Ada")
    await page.get_by_role("link", name="Settings").click()
    await page.get_by_label("Maturity limit").select_option("TV-Y7")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator(".outcome.ok")).to_contain_text("applied everywhere")
    await page.get_by_role("link", name="Home").first.click()
    await expect(page.locator("[data-row]").first).to_be_visible()
    for meta in await page.locator(".card-meta").all_inner_texts():
        assert allows("TV-Y7", meta.split(" · ")[-1]), meta


async def test_deleting_the_account_shows_the_operations_progress(page: Page) -> None:
    email = await sign_up(page)
    await choose_profile(page, "Ada")
    await page.get_by_role("link", name="Account").click()
    delete = page.get_by_role("button", name="Delete account")
    await expect(delete).to_be_disabled()
    await page.get_by_label(re.compile("I understand")).check()
    await delete.click()
    await expect(page.locator("#deletion-progress")).to_be_attached()
    await expect(page.get_by_text("have been deleted")).to_be_visible(timeout=60_000)
    await page.get_by_role("button", name="Done").click()
    await page.goto("/#/signin")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_be_visible()


@pytest.fixture(autouse=True)
def _axe_is_installed() -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make tools` runs npm ci in web/", pytrace=False)
