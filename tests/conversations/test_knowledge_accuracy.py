"""How well the FAQ matching answers real users: a telecom brand's FAQ (tests/conversations/
telecom_faq.py) and questions worded the users' way. Top-1 accuracy must be at least 85%, and
no out-of-domain question may reach the default threshold (it would get a wrong answer).
Run with -s to see the figures (recorded in docs/knowledge.md)."""

from __future__ import annotations

from conversations.matching import Entry, FaqIndex
from conversations.rules import DEFAULT_THRESHOLD
from tests.conversations.telecom_faq import FAQ, OUT_OF_DOMAIN, QUESTIONS

INDEX = FaqIndex([Entry(e["key"], e["questions"]) for e in FAQ])


def test_the_fixture_is_paraphrases_not_copies():
    variants = {q for e in FAQ for q in e["questions"]}
    assert len(FAQ) >= 15 and len(QUESTIONS) >= 50 and len(OUT_OF_DOMAIN) >= 10
    assert not [q for q, _ in QUESTIONS if q in variants]
    assert {key for _, key in QUESTIONS} == {e["key"] for e in FAQ}  # every entry is asked about


def test_top_1_accuracy_on_paraphrased_questions():
    right, answered, wrong_but_sure = 0, 0, []
    for question, key in QUESTIONS:
        found = INDEX.match(question)
        top = found[0] if found else None
        right += top is not None and top.faq_id == key
        if top is not None and top.confidence >= DEFAULT_THRESHOLD:
            answered += 1
            if top.faq_id != key:
                wrong_but_sure.append(question)
    accuracy = right / len(QUESTIONS)
    print(
        f"\nFAQ top-1 accuracy: {right}/{len(QUESTIONS)} = {accuracy:.1%}; "
        f"at or above the threshold {DEFAULT_THRESHOLD}: {answered}/{len(QUESTIONS)}, "
        f"of them wrong: {len(wrong_but_sure)} {wrong_but_sure}"
    )
    assert accuracy >= 0.85
    assert len(wrong_but_sure) <= 0.05 * len(QUESTIONS)


def test_out_of_domain_questions_stay_below_the_threshold():
    confidences = {q: (INDEX.match(q) or [None])[0] for q in OUT_OF_DOMAIN}
    top = max((m.confidence for m in confidences.values() if m is not None), default=0.0)
    print(
        f"\nout-of-domain: {len(OUT_OF_DOMAIN)} questions, highest confidence {top:.3f} (threshold {DEFAULT_THRESHOLD})"
    )
    assert all(m is None or m.confidence < DEFAULT_THRESHOLD for m in confidences.values()), confidences
