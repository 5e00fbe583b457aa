"""Chinese free-text matching of a question against a brand's FAQ: normalisation, jieba word
segmentation, stop words, synonyms, BM25 ranking (rank_bm25) and a confidence in 0..1.

Every question variant of every enabled entry is one BM25 document; an entry scores as its
best variant. Tokens are jieba's search-mode words (long words also give their parts:
国际漫游 → 国际, 漫游, 国际漫游) after stop words are dropped and synonyms mapped to their
canonical term, plus the character bigrams of each run of Chinese text ("~" prefixed), which
keep a question with a typo or an unusual split (话废余额) close to the right entry.

Confidence (FaqIndex.confidence, docs/knowledge.md) says what the BM25 score alone cannot:
whether the question is about what the entry answers (question coverage), whether it asks
for more than a common word (variant coverage), and whether another entry is close (margin).

jieba's dictionary takes about a second to load: `Segmenter.ready()` loads it once, in a thread,
the first time it is needed. Building an index for a large FAQ also runs in a thread
(conversations.knowledge); a match only scores the variants sharing a token with the question
(an inverted index), so it is cheap on the event loop.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import ahocorasick
import jieba
import numpy as np
from rank_bm25 import BM25Okapi

# A question longer than this is cut (a question, not an essay): bounds the work per match.
MAX_QUESTION_CHARS = 500
BIGRAM = "~"

# Words that say nothing about which entry a question is for: particles, pronouns, question
# words and politeness. Kept short on purpose: 查/办/开通 stay (they tell entries apart).
STOP_WORDS = frozenset(
    """
    的 了 吗 呢 吧 啊 呀 哦 嘛 么 哈 噢 喔 哎 唉 嗯 呐 啦 咯 哪 呗
    我 我的 我们 你 你们 您 您好 你好 他 她 它 这 那 这个 那个 这些 那些 这里 那里 这边 那边
    是 在 有 还有 没 没有 也 都 就 还 还是 又 和 与 及 或 或者 跟 给 把 被 让 对 从 向 到
    请 请问 麻烦 帮 帮我 帮忙 一下 下 想 想要 要 需要 能 能不能 可以 可不可以 会 应该 得
    怎么 怎么办 怎样 怎么样 如何 咋 咋办 咋整 为什么 为啥 什么 啥 哪里 哪儿 哪个 多少 几 吗 嘛
    一个 个 些 点 一点 知道 告诉 问 问下 问一下 谢谢 感谢 好的 好 嗨 喂 hi hello
    """.split()
)
_SPACE = re.compile(r"\s+")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def normalise(text: str) -> str:
    """NFKC (full-width letters, digits and punctuation become half-width), lower case,
    punctuation and symbols turned into spaces, runs of white space made one."""
    text = unicodedata.normalize("NFKC", text[:MAX_QUESTION_CHARS]).casefold()
    out = [" " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in text]
    return _SPACE.sub(" ", "".join(out)).strip()


class Segmenter:
    """jieba, its dictionary loaded once (lazily, in a thread) and shared by every tenant."""

    def __init__(self) -> None:
        self._tokenizer = jieba.Tokenizer()
        self._loaded = threading.Event()
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the dictionary (blocking: call it from a thread, or via `ready`)."""
        with self._lock:
            if not self._loaded.is_set():
                self._tokenizer.initialize()
                self._loaded.set()

    async def ready(self) -> None:
        """The dictionary loaded; the first call loads it in a thread."""
        if not self._loaded.is_set():
            await asyncio.to_thread(self.load)

    def words(self, normalised: str) -> list[str]:
        """jieba's search-mode words of normalised text (loads the dictionary if it must)."""
        if not self._loaded.is_set():
            self.load()
        return [w for w in self._tokenizer.cut_for_search(normalised) if w.strip()]


SEGMENTER = Segmenter()


class Synonyms:
    """Words mapped to a canonical word (per tenant): {"canonical": ["variant", …]}. Variants
    are replaced in the normalised text before segmentation (longest first, one pass of an
    Aho-Corasick automaton), so a variant jieba would split still maps."""

    def __init__(self, mapping: Mapping[str, str] | None = None) -> None:
        self.mapping = dict(mapping or {})
        self._automaton: ahocorasick.Automaton | None = None
        if self.mapping:
            self._automaton = ahocorasick.Automaton()
            for variant, canonical in self.mapping.items():
                self._automaton.add_word(variant, (len(variant), canonical))
            self._automaton.make_automaton()

    @classmethod
    def of(cls, groups: Mapping[str, Iterable[str]] | None) -> Synonyms:
        mapping: dict[str, str] = {}
        for canonical, variants in (groups or {}).items():
            key = normalise(canonical)
            for v in variants:
                if normalise(v):
                    mapping[normalise(v)] = key
        return cls(mapping)

    def replace(self, norm: str) -> str:
        """Normalised text with every variant replaced by its canonical word (space-separated)."""
        if self._automaton is None:
            return norm
        out, at = [], 0
        for end, (length, canonical) in self._automaton.iter_long(norm):
            start = end - length + 1
            out.append(norm[at:start])
            out.append(f" {canonical} ")
            at = end + 1
        out.append(norm[at:])
        return "".join(out)

    def __call__(self, word: str) -> str:
        return self.mapping.get(word, word)


def tokens(text: str, synonyms: Synonyms, segmenter: Segmenter = SEGMENTER) -> list[str]:
    """The tokens of a text: words (stop words out, synonyms mapped) and Chinese bigrams."""
    norm = synonyms.replace(normalise(text))
    out = [synonyms(w) for w in segmenter.words(norm)]
    out = [w for w in out if w not in STOP_WORDS]
    for run in _CJK.findall(" ".join(out)):
        out.extend(BIGRAM + run[i : i + 2] for i in range(len(run) - 1))
    return out


class _Bm25(BM25Okapi):
    """BM25 with Lucene's IDF, log(1 + (N − n + 0.5) / (n + 0.5)): never zero or negative, so a
    small FAQ (three entries, a word in half of them) still ranks by that word. rank_bm25's
    Okapi IDF is 0 there and floors negative values with a constant."""

    def __init__(self, corpus: list[list[str]]) -> None:
        super().__init__(corpus)
        lengths: list[int] = list(getattr(self, "doc_len"))  # noqa: B009  (rank_bm25 is untyped)
        self.doc_len = np.array(lengths)  # get_batch_scores indexes it: made once, not per question

    def _calc_idf(self, nd):
        for word, freq in nd.items():
            self.idf[word] = math.log(1 + (self.corpus_size - freq + 0.5) / (freq + 0.5))
        self.average_idf = sum(self.idf.values()) / len(self.idf) if self.idf else 0.0


@dataclass(frozen=True)
class Entry:
    """What the matcher knows of an FAQ entry."""

    id: str
    questions: Sequence[str]


@dataclass(frozen=True)
class Match:
    faq_id: str
    score: float
    confidence: float


class FaqIndex:
    """A tenant's FAQ ranked with BM25 over its question variants (build it off the loop)."""

    def __init__(self, entries: Sequence[Entry], synonyms: Synonyms | None = None, *, segmenter: Segmenter = SEGMENTER):
        self.synonyms = synonyms or Synonyms()
        self.segmenter = segmenter
        self._owner: list[str] = []  # document → entry id
        docs: list[list[str]] = []
        self._vocabulary: dict[str, set[str]] = {}  # entry id → the tokens of all its variants
        for entry in entries:
            for q in entry.questions:
                toks = tokens(q, self.synonyms, segmenter)
                if toks:
                    docs.append(toks)
                    self._owner.append(entry.id)
                    self._vocabulary.setdefault(entry.id, set()).update(toks)
        self._docs = [set(d) for d in docs]
        self._postings: dict[str, list[int]] = {}
        for i, d in enumerate(self._docs):
            for t in d:
                self._postings.setdefault(t, []).append(i)
        self._bm25 = _Bm25(docs) if docs else None
        idf = self._bm25.idf if self._bm25 else {}
        self._idf: dict[str, float] = {t: float(v) for t, v in idf.items()}
        self._max_idf = max(self._idf.values(), default=1.0) or 1.0
        self._weights: dict[str, float] = {}

    @property
    def size(self) -> int:
        """BM25 documents (question variants)."""
        return len(self._owner)

    def _weight(self, token: str) -> float:
        weight = self._weights.get(token)
        if weight is None:
            weight = self._weights[token] = self._weigh(token)
            if len(self._weights) > 100_000:  # words users made up: bounded
                self._weights.clear()
        return weight

    def _weigh(self, token: str) -> float:
        known = self._idf.get(token)
        if known is not None:
            return max(known, 0.05 * self._max_idf)
        # A word the FAQ never uses weighs as much as the rarest one it does (information the FAQ
        # lacks); a single character less (mostly a verb or particle: 找, 修, 看).
        return self._max_idf if len(token.lstrip(BIGRAM)) > 1 else 0.3 * self._max_idf

    def _coverage(self, have: Iterable[str], within: set[str]) -> float:
        have = set(have)
        total = sum(self._weight(t) for t in have)
        return sum(self._weight(t) for t in have if t in within) / total if total else 0.0

    def match(self, text: str, limit: int = 5) -> list[Match]:
        """The best entries for a question, best first, each with its confidence."""
        if self._bm25 is None:
            return []
        query = set(tokens(text, self.synonyms, self.segmenter))
        candidates = sorted({i for t in query for i in self._postings.get(t, ())})
        if not candidates:
            return []
        scores = self._bm25.get_batch_scores(list(query), candidates)
        best: dict[str, tuple[float, int]] = {}
        for doc, score in zip(candidates, scores):
            owner = self._owner[doc]
            if owner not in best or score > best[owner][0]:
                best[owner] = (float(score), doc)
        ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))
        if ranked[0][1][0] <= 0:
            return []
        # The margin is over the runner-up whatever `limit` is: the pipeline asks for one match,
        # and its confidence must be the one /v1/knowledge/match and the accuracy test see.
        s1 = ranked[0][1][0]
        s2 = ranked[1][1][0] if len(ranked) > 1 else 0.0
        ranked = ranked[:limit]
        out = []
        for n, (faq_id, (score, doc)) in enumerate(ranked):
            margin = max(0.0, (s1 - s2) / s1) if n == 0 else 0.0
            out.append(Match(faq_id, round(score, 4), round(self.confidence(query, faq_id, doc, margin), 4)))
        return out

    def confidence(self, query: set[str], faq_id: str, doc: int, margin: float) -> float:
        """√(question coverage × variant coverage) × (0.75 + 0.25 × margin), in 0..1.

        Question coverage: the IDF-weighted share of the question's tokens found in any variant
        of the entry (low when the question is about something else). Variant coverage: the
        weighted share of the best variant's tokens the question has (low when only a common
        word is shared). Margin: how far the entry is ahead of the runner-up."""
        asked = self._coverage(query, self._vocabulary[faq_id])
        answered = self._coverage(self._docs[doc], query)
        return min(1.0, math.sqrt(asked * answered) * (0.75 + 0.25 * margin))
