"""Words, terms and headings as the offline generator and the copy filter see them.

One tokenization for both: a query is a copy when its words are found in the chunk the same
way the generator looked for them. Content words are lower-cased, lightly stemmed words
that are not stop words or question scaffolding ("how do I", "what is"), so "How do I get
the items?" copies a chunk saying "Returns the items". ``is_term`` keeps templates such as
"What is X?" away from non-terms that annotators saw as "What is If there?" or "What is
None?": pronouns, determiners, sentence-initial verbs and generic placeholders.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z0-9]+")


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Function words plus the scaffolding the question templates add.
STOP_WORDS = _set(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers him his how i if in into is it its
    itself just let me more most my no nor not of off on once only or other our ours out over
    own same she should so some such than that the their theirs them then there these they
    this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours get use using used work works explained"""
)

# Words that never name a thing on their own: "What is None?", "What is this?".
_PRONOUNS = _set(
    "it its this that these those they them their there here he she we you i one which what "
    "who whom whose"
)
_DETERMINERS = _set(
    "a an the some any each every all no other another such both either neither many much "
    "few several same own"
)
_CONJUNCTIONS = _set(
    "if when while unless although because since so and or but then whether as for to of in "
    "on at by with from"
)
# Placeholders of API docs that read as terms but say nothing about a topic.
_GENERIC = _set(
    "none null true false default defaults caller callee self cls args kwargs value values "
    "result results object objects argument arguments parameter parameters item items element "
    "elements thing things instance instances data type types name names string strings "
    "number numbers note notes example examples returned given new old current specified "
    "optional following above below same other others first last next previous"
)
# Verbs that start a sentence in docs ("Return whether this ...", "Raise ...").
_SENTENCE_VERBS = _set(
    "return returns raise raises get gets set sets make makes create creates call calls see "
    "use uses note add adds remove removes check checks convert converts find finds open opens "
    "close closes read reads write writes run runs start starts stop stops build builds "
    "parse parses copy copies list lists load loads save saves send sends compute computes "
    "delete deletes change changes install installs configure configures test tests"
)
_QUESTION_START = re.compile(
    r"(?i)^(how|what|why|when|where|which|who|can|could|should|do|does|did|is|are|will|"
    r"may|must|shall)\b"
)


def words(text: str) -> list[str]:
    """Lower-cased alphanumeric words (``set_trace_callback`` → set, trace, callback)."""
    return [w.lower() for w in _WORD.findall(text)]


def normalize(text: str) -> str:
    return " ".join(words(text))


def stem(word: str) -> str:
    """Light suffix stripping, the same on both sides of every comparison: "creates",
    "created" and "create" all become "creat"."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    if len(word) > 2 and word[-1] == word[-2] and word[-1] not in "aeiouls":
        word = word[:-1]  # "running" -> "run" like "run"; "added" and "add" -> "ad"
    return word


def content_words(text: str) -> list[str]:
    return [stem(w) for w in words(text) if w not in STOP_WORDS]


def contains_passage(text: str, passage: str) -> bool:
    """Whether ``passage`` occurs in ``text`` word for word, ignoring case, punctuation,
    whitespace and line wrapping."""
    needle = normalize(passage)
    return bool(needle) and f" {needle} " in f" {normalize(text)} "


_SECTION_NUMBER = re.compile(
    r"^(?:§\s*)?(?i:(?:chapter|section|appendix|part)\s+)?"
    r"(?:\d+(?:\.\d+)*\.|\d+(?:\.\d+)+|[A-Z](?:\.\d+)+\.?|[A-Z]\.|[IVXLC]+\.)(?=\s)\s*"
)
# Lower-case API-reference prefixes before one identifier ("class deque", "method get");
# "Module contents" or "Data model" are headings of their own.
_KIND_PREFIX = re.compile(
    r"^(?:class|method|function|module|exception|attribute|property|classmethod|"
    r"staticmethod|decorator|coroutine|abstractmethod)\s+(?=[\w.]+(?:\(.*\))?$)"
)
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MARKUP = re.compile(r"[`*#>\[\]]|(?<!\w)_(?!\w)|\{#[^}]*\}")
_TRAILING = re.compile("[\\s\u00b6\u00a7:;,.\\-\u2013\u2014|#]+$")


def clean_heading(heading: str) -> str:
    """``## 5.8.1. `__main__.__spec__` ¶`` → ``__main__.__spec__``; questions keep their "?"."""
    text = re.sub(r"^#+\s*", "", heading.strip())
    text = _LINK.sub(r"\1", text)
    text = " ".join(_MARKUP.sub(" ", text).split())
    text = _SECTION_NUMBER.sub("", text)
    text = _KIND_PREFIX.sub("", text)
    text = re.sub(r"\((?:[^()]*)\)$", "", text).strip()  # signature: "f(a, b)" → "f"
    return _TRAILING.sub("", text).strip()


def humanize(identifier: str) -> str:
    """``Connection.iterdump`` → ``Connection iterdump``; identifiers keep underscores."""
    return " ".join(re.sub(r"(?<=\w)\.(?=\w)|\(\)", " ", identifier).split())


def is_question(text: str) -> bool:
    return text.rstrip().endswith("?") or bool(
        re.match(r"(?i)^how to\b", text) and len(text.split()) >= 3
    )


def is_term(text: str) -> bool:
    """Whether ``text`` names a thing a template like "What is X?" can ask about."""
    tokens = words(text)
    if not tokens or not any(c.isalpha() for c in text):
        return False
    if _QUESTION_START.match(text) and len(tokens) > 1:
        return False  # a clause ("Is there …", "What it does"), not a term
    first = tokens[0]
    if first in _PRONOUNS or first in _DETERMINERS or first in _CONJUNCTIONS:
        return False
    if len(tokens) > 1 and first in _SENTENCE_VERBS and text.split()[0][:1].isupper():
        return False  # "Return whether this", "Creates a new key"
    if any(t in _PRONOUNS for t in tokens):
        return False
    if _LABEL.match(text.strip()):
        return False  # "Answer 1.1", "Example 3", "Step 2": a numbered label, no topic
    return not all(t in _GENERIC or t in STOP_WORDS for t in tokens)


# One word of a numbered series and its number: the label says where, not what.
_LABEL = re.compile(
    r"(?i)^(?:answer|question|q|a|example|step|figure|fig|table|listing|exercise|"
    r"chapter|section|part|appendix|note|item|entry|case|lesson|unit|task)\s*"
    r"(?:\d+(?:[.\-]\d+)*|[A-Z]|[IVXLC]+)[.:]?$"
)


def is_object_phrase(text: str) -> bool:
    """Whether a verb's object names a thing: "the number of items" does, "one per
    process", "it" and "whether this" do not."""
    rest = text.split()
    while rest and rest[0].lower() in {"a", "an", "the"}:
        rest = rest[1:]
    if not rest or rest[0].lower() in _CONJUNCTIONS or rest[0].lower() in _PRONOUNS:
        return False
    return not all(t in _GENERIC or t in STOP_WORDS for t in words(" ".join(rest)))
