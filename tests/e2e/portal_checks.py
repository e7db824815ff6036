"""What the browser tests check on every portal page they show: axe-core finds no serious
or critical accessibility violation, and no string of the other language's catalogue is on
the page (no English on a bokmål page, no bokmål on an English one): the catalogue's
strings and the names of the resource classes and quality properties.

axe-core comes from the npm registry at the version pinned in
services/portal/package-lock.json (`make vendor` copies it to tests/e2e/vendor/).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po
from playwright.async_api import Page

from shared.resources import MATERIAL_PROPERTIES, RESOURCE_CLASSES
from tests.support import REPO

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
LOCALES = REPO / "services" / "portal" / "locale"
SCREENSHOTS = REPO / "screenshots"
FAILING_IMPACTS = ("serious", "critical")
_PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%%")


@cache
def _strings(language: str) -> frozenset[str]:
    """The language's words of the portal: its catalogue, and the names of the resource
    classes and quality properties, which the portal shows from shared/resources.py (not
    from its catalogue)."""
    with (LOCALES / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale=language)
    found: set[str] = set()
    for message in catalog:
        if not message.id:
            continue
        texts = message.string if isinstance(message.string, tuple) else (message.string,)
        found.update(str(t) for t in texts if t)
    for known in (
        *MATERIAL_PROPERTIES,
        *(p for c in RESOURCE_CLASSES.values() for p in c.properties),
    ):
        found.add(known.label_nb if language == "nb" else known.label)
    for kind in RESOURCE_CLASSES.values():
        found.add(kind.label_nb if language == "nb" else kind.label)
    return frozenset(found)


@cache
def foreign_phrases(language: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """The other language's catalogue strings that cannot be read as this language's: the
    literal pieces between placeholders, at least two words or one long word, and no piece
    that this language's catalogue also uses."""
    other = "en" if language == "nb" else "nb"
    own = _strings(language)
    own_text = "\n".join(own)
    phrases: dict[str, re.Pattern[str]] = {}
    for text in _strings(other):
        for piece in _PLACEHOLDER.split(text):
            piece = piece.strip(" .,:;()“”«»\u2013-")
            words = piece.split()
            if not words or piece in own or piece in own_text:
                continue
            if (len(words) >= 2 and len(piece) >= 8) or (len(words) == 1 and len(piece) >= 7):
                phrases[piece] = re.compile(rf"(?<![\w-]){re.escape(piece)}(?![\w-])")
    return tuple(sorted(phrases.items()))


async def page_text(page: Page) -> str:
    """What a reader (or a screen reader) gets: the text, and the words in attributes;
    leaving out code (topic names, event types), whatever is marked as in another
    language (``lang``), as the language switch is, and what people wrote themselves
    (company names, listing titles: ``translate="no"``), which the park's other tests
    name in English."""
    text: str = await page.evaluate(
        """() => {
          const own = document.documentElement.lang;
          const body = document.body.cloneNode(true);
          const skip = 'script,style,template,code,kbd,samp,pre';
          for (const el of body.querySelectorAll(skip)) el.remove();
          for (const el of body.querySelectorAll('[lang]')) {
            if (el.getAttribute('lang') !== own) el.remove();
          }
          for (const el of body.querySelectorAll('[translate="no"]')) el.remove();
          const parts = [document.title, body.textContent];
          for (const el of body.querySelectorAll('[aria-label],[title],[placeholder],[alt]')) {
            for (const name of ['aria-label', 'title', 'placeholder', 'alt']) {
              const value = el.getAttribute(name);
              if (value) parts.push(value);
            }
          }
          for (const el of body.querySelectorAll('input[type=submit],input[type=button]')) {
            parts.push(el.value);
          }
          return parts.join('\\n');
        }"""
    )
    return text


async def people_text_on(page: Page, written: str) -> tuple[int, list[str]]:
    """Where the page shows ``written`` (a piece of what people wrote: company names, titles,
    notes): how many times inside ``translate="no"`` (which a browser's translator leaves as
    it is, and ``page_text`` leaves out), and the texts and attributes that show it outside
    one."""
    found: dict[str, Any] = await page.evaluate(
        """(written) => {
          const found = {marked: 0, unmarked: []};
          const skip = 'script,style,template,code,kbd,samp,pre';
          const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
          for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            const parent = node.parentElement;
            if (!parent || !node.textContent.includes(written) || parent.closest(skip)) continue;
            if (parent.closest('[translate="no"]')) found.marked += 1;
            else found.unmarked.push(node.textContent.trim());
          }
          for (const el of document.body.querySelectorAll('[aria-label],[title],[alt]')) {
            for (const name of ['aria-label', 'title', 'alt']) {
              const value = el.getAttribute(name) || '';
              if (!value.includes(written)) continue;
              if (el.closest('[translate="no"]')) found.marked += 1;
              else found.unmarked.push(`${name}="${value}"`);
            }
          }
          return found;
        }""",
        written,
    )
    return int(found["marked"]), [str(text) for text in found["unmarked"]]


async def other_language_on(page: Page) -> list[str]:
    """The other language's catalogue strings found on the page (the page's ``lang``)."""
    language = await page.locator("html").get_attribute("lang") or "nb"
    text = await page_text(page)
    return [phrase for phrase, pattern in foreign_phrases(language) if pattern.search(text)]


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE.read_text())
    result: dict[str, Any] = await page.evaluate(
        """async () => await axe.run(document, {resultTypes: ['violations']})"""
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v["impact"] in FAILING_IMPACTS
    ]


async def check_page(page: Page, name: str) -> None:
    """Photograph the page into screenshots/ and fail on an accessibility violation or on
    words of the other language."""
    SCREENSHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    violations = await axe_violations(page)
    assert not violations, f"{name} ({page.url}): axe-core found {violations}"
    foreign = await other_language_on(page)
    assert not foreign, f"{name} ({page.url}): words of the other language: {foreign}"
