"""Hiding secrets in URLs and in the text around them, for logs, errors and tool output.

Every function here is pure string work and never raises, whatever the input: a URL
that ``urllib.parse`` rejects (``postgresql://u:pw@[db/x``) is masked all the same. When
the text is ambiguous the mask takes more rather than less: the userinfo ends at the
last ``@`` of the URL, so an unencoded ``@`` or ``/`` in a password stays hidden (and an
``@`` in a query value hides the host as well).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, unquote_plus

__all__ = ["MASK", "mask_url", "mask_urls_in_text", "secret_values", "scrub"]

MASK = "***"

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
# Query parameters whose value is a credential: password, pass, passwd, pwd, sslpassword,
# secret, client_secret, token, access_token, api_key, apikey, sslkey, auth, credentials...
_SECRET_NAME = r"[^=&;#?\s]*(?:pass|pwd|secret|token|key|auth|credential)[^=&;#?\s]*"
_SECRET_PARAM = re.compile(rf"(?i)([?&;]{_SECRET_NAME}=)([^&;#\s]*)")
# A URL inside free text runs to the next whitespace (a quote may be part of a password).
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://\S+")


def mask_url(url: str) -> str:
    """``url`` with the userinfo password and credential query values replaced by ``***``."""
    text = str(url)
    scheme = _SCHEME.match(text)
    if scheme:
        at = text.rfind("@", scheme.end())  # the last @: see the module docstring
        if at >= 0:
            user, colon, _ = text[scheme.end() : at].partition(":")
            if colon:
                text = f"{text[: scheme.end()]}{user}:{MASK}{text[at:]}"
    return _SECRET_PARAM.sub(rf"\g<1>{MASK}", text)


def mask_urls_in_text(text: str) -> str:
    """``text`` with every URL in it masked (``mask_url``)."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda match: mask_url(match.group(0)), text)


def secret_values(url: str) -> frozenset[str]:
    """The secrets ``url`` holds (password, credential query values), raw and decoded."""
    text = str(url)
    found: set[str] = set()
    scheme = _SCHEME.match(text)
    if scheme:
        at = text.rfind("@", scheme.end())  # the last @: see the module docstring
        if at >= 0:
            _, colon, password = text[scheme.end() : at].partition(":")
            if colon:
                found.add(password)
    found.update(match.group(2) for match in _SECRET_PARAM.finditer(text))
    decoded = {unquote(value) for value in found} | {unquote_plus(value) for value in found}
    return frozenset(value for value in found | decoded if value)


def scrub(text: str, urls: Iterable[str]) -> str:
    """``text`` (an exception message, say) without any secret of ``urls`` in it."""
    secrets = sorted({s for url in urls for s in secret_values(url)}, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return mask_urls_in_text(text)
