"""Extract every translatable message (``babel.cfg``: ``_("...")`` in Python, ``{{ _("...") }}`` and
``{% trans %}`` in templates) and update the catalogs in ``src/stemdm/i18n/locale``: new messages are added
with an empty translation (the catalog test then fails until someone translates them), messages no longer
in the sources are dropped.

    .venv/bin/python tools/update_catalogs.py
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from stemdm.i18n.terms import all_terms

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "src" / "stemdm" / "i18n" / "locale"


def extracted() -> Catalog:
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    template = Catalog(project="stemdm")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords={"_": None, "gettext": None, "ngettext": (1, 2), "tr": (2,), "msg": (1,)}
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    for term in all_terms():  # data values shown translated (outcome ids, sources, ...): no literal to extract
        if term not in template:
            template.add(term, None, [("src/stemdm/i18n/terms.py", 1)])
    return template


def main() -> None:
    template = extracted()
    for folder in sorted(p for p in LOCALES.iterdir() if p.is_dir()):
        path = folder / "LC_MESSAGES" / "messages.po"
        if path.exists():
            with path.open("rb") as handle:
                catalog = read_po(handle)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale={"zh": "zh_Hans_CN"}.get(folder.name, folder.name), project="stemdm")
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        with path.open("wb") as handle:
            write_po(handle, catalog, width=110, omit_header=False, sort_output=True)
        missing = [m.id for m in catalog if m.id and not m.string]
        print(f"{path.relative_to(ROOT)}: {len(catalog)} messages, {len(missing)} without a translation")


if __name__ == "__main__":
    main()
