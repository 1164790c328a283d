"""Message templates: a log message with its variable parts masked.

Two messages from the same line of code differ in ids, numbers, durations and quoted values;
masked, they become one template, so "a message never seen before" means a new line of
code (or a new error), not a new order id. Masking order matters: quoted strings first
(their content is one value), then UUIDs, hex, IP addresses, mixed letter-and-digit tokens,
and finally plain numbers (units stay: ``12ms`` -> ``<num>ms``).
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["template_key", "template_of"]

# Each mask with a test its pattern cannot match without (a character every match holds,
# looked for in the message first): the masks put none of those characters in, so a test
# false on the message stays false on the text being masked, and a pattern that cannot
# match is not run.
_MASKS: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...] = (
    (re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'"), "<str>", ('"', "'")),
    (
        re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
        "<uuid>",
        ("-",),
    ),
    (re.compile(r"\b0[xX][0-9a-fA-F]+\b"), "<hex>", ("0x", "0X")),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<ip>", (".",)),
    # A hex run long enough to be a hash or an id: at least one digit and one letter (a long
    # plain number is a number, "accepted" is a word).
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>", ()),
    # Tokens mixing letters and digits (req_a8f3, user42, v2-7f3a) are ids; a number with a unit
    # (120ms, 5s) is left for the number rule, so the unit stays in the template.
    (re.compile(r"(?<![\w<-])(?![\d.]+[A-Za-z]+\b)(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w-]+"), "<id>", ()),
    (re.compile(r"(?<![A-Za-z])[-+]?\d+(?:[.,]\d+)*"), "<num>", ()),
)
_BLANKS = re.compile(r"\s+")


def template_of(message: str) -> str:
    """The message with quoted strings, UUIDs, hex, IPs, ids and numbers masked; blanks folded."""
    text = message
    for pattern, mask, needs in _MASKS:
        if not needs or any(part in message for part in needs):
            text = pattern.sub(mask, text)
    # Blanks fold to themselves when every one is a single space between other characters:
    # any other blank (\s and str.strip's are the same set) is not printable.
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return _BLANKS.sub(" ", text).strip()


def template_key(template: str) -> str:
    """A short stable key of a template (12 hex digits of blake2b): what the state counts, so
    its size does not depend on how long messages are."""
    key = _keys.get(template)
    if key is None:
        if len(_keys) >= _KEYS_KEPT:
            _keys.clear()
        key = _keys[template] = hashlib.blake2b(template.encode("utf-8"), digest_size=6).hexdigest()
    return key


# A service logs from a few dozen lines of code: their keys are remembered, not hashed per log.
_KEYS_KEPT = 4096
_keys: dict[str, str] = {}
