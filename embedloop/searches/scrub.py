"""Mask what looks private in a query before annotators see it.

People paste anything into a search box: an email address, an API key, a token from a
log line. The search log keeps the query as asked (it is purged on request); what goes to
Argilla, where reviewers read it, is scrubbed: emails, URLs with credentials, bearer
tokens, JWTs, well-known key formats and long random-looking strings become placeholders.
A false positive costs a reviewer a word; a false negative leaks a secret, so the patterns
lean to masking.
"""

from __future__ import annotations

import re

EMAIL = "[email]"
SECRET = "[secret]"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Credentials in a URL first: their "user:password@host" also reads as an email.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/:@]+:[^\s/@]+@"), rf"\1{SECRET}@"),
    (re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), EMAIL),
    # "password: x", "token=x", "Bearer x" (a bare "reset my password" stays).
    (
        re.compile(r"(?i)\b(token|api[_-]?key|password|passwd|secret)(\s*[=:]\s*)\S+"),
        rf"\1\2{SECRET}",
    ),
    (re.compile(r"(?i)\b(bearer\s+)\S+"), rf"\1{SECRET}"),
    (re.compile(r"\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}"), SECRET),  # a JWT
    (re.compile(r"\b(?:sk|pk|rk)[-_][\w-]{16,}"), SECRET),  # OpenAI/Stripe-style keys
    (re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr|glpat|xox[abprs])[-_][\w-]{10,}"), SECRET),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), SECRET),  # an AWS access key id
    (re.compile(r"\bhf_[A-Za-z0-9]{20,}\b"), SECRET),
    # Long strings mixing letters and digits: hex digests, base64 blobs, random tokens.
    (
        re.compile(r"\b(?=[A-Za-z0-9+/_=-]*\d)(?=[A-Za-z0-9+/_=-]*[A-Za-z])[A-Za-z0-9+/_=-]{24,}"),
        SECRET,
    ),
]


def scrub(query: str) -> str:
    """``query`` with emails, credentials and token-like strings masked."""
    for pattern, replacement in _PATTERNS:
        query = pattern.sub(replacement, query)
    return query
