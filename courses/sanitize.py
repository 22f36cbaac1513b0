"""Article HTML through bleach with a strict allow-list: what is stored is already safe to render."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import bleach
from bleach.html5lib_shim import Filter  # type: ignore[attr-defined]

TAGS = frozenset(
    {
        *(f"h{n}" for n in range(1, 7)),
        *("p", "br", "hr", "div", "span"),
        *("ul", "ol", "li", "dl", "dt", "dd"),
        *("strong", "em", "b", "i", "u", "s", "sub", "sup", "small", "mark", "abbr"),
        "a",
        *("img", "figure", "figcaption"),
        *("table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td"),
        *("code", "pre", "kbd", "blockquote"),
    }
)
LINK_PROTOCOLS = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer"
# Elements whose content is never text worth keeping: dropped with everything inside them.
DROP_WITH_CONTENT = frozenset({"script", "style", "template", "iframe", "object", "svg", "math", "noscript"})


class _Finish(Filter):  # type: ignore[misc]  # html5lib's filter base has no stubs
    """Drop dangerous elements with their content, force rel on links, drop images left without a source."""

    def __iter__(self) -> Iterator[dict[str, Any]]:
        depth = 0
        for token in super().__iter__():
            kind, name = token.get("type"), token.get("name")
            if name in DROP_WITH_CONTENT and kind in ("StartTag", "EndTag", "EmptyTag"):
                if kind == "StartTag":
                    depth += 1
                elif kind == "EndTag":
                    depth = max(0, depth - 1)
                continue
            if depth:
                continue
            if kind in ("StartTag", "EmptyTag") and name == "a":
                token["data"][(None, "rel")] = LINK_REL
            if kind in ("StartTag", "EmptyTag") and name == "img" and (None, "src") not in token["data"]:
                continue
            yield token


class ArticleSanitizer:
    """Cleans article HTML; images are only accepted from our own public storage."""

    def __init__(self, image_prefixes: Sequence[str]) -> None:
        self.image_prefixes = tuple(p for p in image_prefixes if p)
        self._cleaner = bleach.Cleaner(
            tags=TAGS
            | DROP_WITH_CONTENT,  # allowed through the tokenizer only so _Finish can drop them whole
            attributes=self._allow_attribute,
            protocols=LINK_PROTOCOLS,
            strip=True,
            strip_comments=True,
            filters=[_Finish],
        )

    def _allow_attribute(self, tag: str, name: str, value: str) -> bool:
        if tag == "a":
            return name in ("href", "title")
        if tag == "img":
            if name == "src":
                return self.image_allowed(value)
            return name in ("alt", "title", "width", "height")
        if tag in ("th", "td"):
            return name in ("colspan", "rowspan", "scope")
        if tag == "ol":
            return name in ("start", "reversed")
        return tag == "abbr" and name == "title"

    def image_allowed(self, src: str) -> bool:
        src = src.strip()
        parts = urlsplit(src)
        if parts.scheme not in ("http", "https"):
            return False
        return any(src.startswith(prefix) for prefix in self.image_prefixes)

    def clean(self, html: str) -> str:
        return str(self._cleaner.clean(html)).strip()


def image_prefixes(public_url: str, s3_public_endpoint: str | None, bucket_public: str) -> list[str]:
    """Where article images may come from: our public URL and the public bucket."""
    prefixes = [public_url.rstrip("/") + "/"]
    if s3_public_endpoint:
        prefixes.append(f"{s3_public_endpoint.rstrip('/')}/{bucket_public}/")
    return prefixes
