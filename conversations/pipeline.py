"""What the bot does with one inbound: the brand's rules first; free text no rule took goes to
the answerer (the knowledge base, an external AI); an answer below the threshold makes the bot
ask back once, then hand the conversation to a person. When the answerer is the knowledge base
the ask-back offers its best FAQ entries (chips over RCS, numbered options over SMS), and
choosing one answers with that entry. Deciding sends nothing: the service sends what `decide`
returns, and the rules' test console shows it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from conversations.rules import Inbound, Rule, RuleSet, first_match, menu_choice, normalise

ASK_BACK_TEXT = "抱歉，我没有完全理解您的问题。您能换个说法再说一次吗？"
ASK_BACK_CHOICE_TEXT = "您是想问以下哪个问题吗？"
ASK_BACK_SMS_HINT = "请回复序号，或换个说法再问一次。"
HANDOFF_TEXT = "正在为您转接人工客服，请稍候。"
FAQ_POSTBACK = "faq:"  # a chip of the ask-back: "faq:<entry id>" chooses that entry
# The conversation's `menu` after an ask-back offered numbered FAQ entries over SMS (a rule id
# never has a colon): "2" then chooses the second of the entries offered for the last question.
ASK_BACK_MENU = ":faq"
MAX_SUGGESTIONS = 3
MAX_CHIP_TEXT = 25  # a chip's displayText (the cards limit); an SMS option's line too
MAX_QUESTION = 1000  # characters of free text an answerer sees


class AnswerLike(Protocol):
    """What an answerer returns (conversations.answerers.Answer)."""

    text: str | None
    card: dict | None
    confidence: float
    source: str
    faq_id: str | None


class AnswererLike(Protocol):
    async def answer(self, q: Any) -> AnswerLike | None: ...


@runtime_checkable
class Suggesting(Protocol):
    """An answerer that can also offer its best entries for a text and answer with one chosen
    (the knowledge base's: conversations.knowledge.TenantAnswerer)."""

    async def suggestions(self, text: str, limit: int) -> list[tuple[str, str]]: ...

    async def chosen(self, faq_id: str, channel: str) -> AnswerLike | None: ...


# tenant id → its answerer (the knowledge base, then its external AI)
AnswererFor = Callable[[str], AnswererLike]
# The answerer's question type (conversations.answerers.Question), built with its fields by name.
QuestionType = Callable[..., Any]


@dataclass
class Reply:
    """What goes back: text (with chips over RCS), a card, or a template version."""

    text: str | None = None
    card: dict | None = None
    template: dict | None = None  # {"name", "version"?}
    variables: dict | None = None
    suggestions: list[dict] | None = None
    kind: str = "text"  # text | card | menu | template

    def view(self) -> dict:
        out: dict = {"kind": self.kind}
        for name in ("text", "card", "template", "variables", "suggestions"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass
class Outcome:
    """What the bot decided for one inbound."""

    kind: str  # rule | faq | ai | ask_back | handoff | none
    reply: Reply | None = None
    rule_id: str | None = None
    faq_id: str | None = None
    confidence: float | None = None
    source: str | None = None  # the answerer's source ("faq:<id>", "ai:<model>")
    handoff: bool = False
    tag: str | None = None
    journey_id: str | None = None  # the journey the contact starts
    menu: str | None = None  # the SMS menu now shown (its rule id), None: none
    misses: int = 0  # answerer misses in a row after this one
    matched: dict = field(default_factory=dict)

    def view(self) -> dict:
        out: dict = {"kind": self.kind, "reply": self.reply.view() if self.reply is not None else None}
        for name in ("rule_id", "faq_id", "confidence", "source", "tag", "journey_id"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        out["handoff"] = self.handoff
        return out


def _menu_reply(action: dict, channel: str) -> Reply:
    """A menu level: numbered options under the text over SMS, chips over RCS."""
    options = action["options"]
    if channel == "sms":
        lines = [action["text"], *(f"{i}. {o['label']}" for i, o in enumerate(options, 1))]
        return Reply(text="\n".join(lines), kind="menu")
    chips = [{"reply": {"displayText": o["label"], "postback": {"data": o["postback"]}}} for o in options]
    return Reply(text=action["text"], suggestions=chips, kind="menu")


def rule_outcome(rule: Rule, channel: str) -> Outcome:
    """What a matched rule's action does."""
    action = rule.action
    kind = action["kind"]
    out = Outcome("rule", rule_id=rule.id, matched={"rule_id": rule.id})
    text = action.get("text")
    if kind == "text":
        out.reply = Reply(text=text, suggestions=action.get("suggestions") if channel == "rcs" else None)
    elif kind == "card":
        out.reply = Reply(card=action["card"], kind="card")
    elif kind == "template":
        template = {"name": action["template"], **({"version": action["version"]} if "version" in action else {})}
        out.reply = Reply(template=template, variables=action.get("variables"), kind="template")
    elif kind == "menu":
        out.reply = _menu_reply(action, channel)
        out.menu = rule.id
    else:  # tag | journey | handoff: their text, when given, answers too
        out.reply = Reply(text=text) if text else None
        if kind == "tag":
            out.tag = action["tag"]
        elif kind == "journey":
            out.journey_id = action["journey_id"]
        elif kind == "handoff":
            out.handoff = True
    return out


def _ask_back_reply(options: list[tuple[str, str]], channel: str) -> Reply:
    """What an ask-back says: "did you mean …?" with the entries' first questions (cut to a
    chip's length), numbered over SMS, as chips over RCS."""
    options = [(i, t if len(t) <= MAX_CHIP_TEXT else t[: MAX_CHIP_TEXT - 1] + "…") for i, t in options]
    if channel == "sms":
        lines = [ASK_BACK_CHOICE_TEXT, *(f"{i}. {title}" for i, (_, title) in enumerate(options, 1)), ASK_BACK_SMS_HINT]
        return Reply(text="\n".join(lines), kind="menu")
    chips = [
        {
            "reply": {
                "displayText": title,
                "postback": {"data": FAQ_POSTBACK + faq_id},
            }
        }
        for faq_id, title in options
    ]
    return Reply(text=ASK_BACK_CHOICE_TEXT, suggestions=chips, kind="menu")


async def _ask_back_choice(
    answerer: AnswererLike | None, inbound: Inbound, history: list[tuple[str, str]]
) -> str | None:
    """A numbered SMS reply to an ask-back → the chosen entry's postback. The entries are those
    offered for the user's last question (matched again: the same FAQ gives the same order)."""
    if inbound.menu != ASK_BACK_MENU or inbound.text is None or not isinstance(answerer, Suggesting):
        return None
    digits = normalise(inbound.text)
    asked = next((text for role, text in reversed(history) if role == "user"), None)
    if asked is None or not digits.isdigit() or len(digits) > 1:
        return None
    options = await answerer.suggestions(asked[:MAX_QUESTION], MAX_SUGGESTIONS)
    n = int(digits)
    return FAQ_POSTBACK + options[n - 1][0] if 1 <= n <= len(options) else None


def _answered(answer: AnswerLike, channel: str, **matched: Any) -> Outcome:
    """An answer that is sent (an FAQ entry's or the AI's)."""
    kind = "faq" if answer.source.startswith("faq:") else "ai"
    card = answer.card if channel == "rcs" else None
    reply = Reply(card=card, kind="card") if card is not None else Reply(text=answer.text)
    found: dict = {"answerer": answer.source, "confidence": answer.confidence, **matched}
    if answer.faq_id is not None:
        found["faq_id"] = answer.faq_id
    return Outcome(
        kind,
        reply=reply,
        faq_id=answer.faq_id,
        confidence=answer.confidence,
        source=answer.source,
        matched=found,
    )


async def decide(
    rules: RuleSet,
    inbound: Inbound,
    *,
    misses: int = 0,
    answerer: AnswererLike | None = None,
    question: QuestionType | None = None,
    tenant_id: str = "",
    conversation_id: str = "",
    history: list[tuple[str, str]] | None = None,
) -> Outcome:
    """The bot's answer to `inbound`: a rule's, the answerer's, an ask-back, a hand-off, or none
    (a location, a file or a tap no rule takes)."""
    choice = menu_choice(rules, inbound) or await _ask_back_choice(answerer, inbound, list(history or []))
    if choice is not None:  # "2" to an SMS menu (or ask-back) is the second option's postback
        inbound = replace(inbound, postback=choice)
    rule = first_match(rules, inbound)
    if rule is not None:
        return rule_outcome(rule, inbound.channel)
    postback = inbound.postback or ""
    if postback.startswith(FAQ_POSTBACK) and isinstance(answerer, Suggesting):  # an ask-back's option
        chosen = await answerer.chosen(postback[len(FAQ_POSTBACK) :], inbound.channel)
        if chosen is not None and (chosen.text or chosen.card):
            return _answered(chosen, inbound.channel, chosen=True)
    free_text = inbound.postback is None and inbound.text is not None and inbound.text.strip() != ""
    if not free_text:
        return Outcome("none", misses=misses)
    answer = None
    if answerer is not None and question is not None:
        q = question(
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            text=(inbound.text or "")[:MAX_QUESTION],
            history=list(history or []),
            channel=inbound.channel,
            threshold=rules.threshold,
        )
        answer = await answerer.answer(q)
    if answer is not None and answer.confidence >= rules.threshold and (answer.text or answer.card):
        return _answered(answer, inbound.channel)
    missed = misses + 1
    confidence = answer.confidence if answer is not None else None
    if rules.on_miss == "handoff" or missed >= 2:
        return Outcome(
            "handoff",
            reply=Reply(text=HANDOFF_TEXT),
            handoff=True,
            confidence=confidence,
            misses=0,
            matched={"handoff": "no answer", **({"confidence": confidence} if confidence is not None else {})},
        )
    options: list[tuple[str, str]] = []
    if isinstance(answerer, Suggesting):
        options = await answerer.suggestions((inbound.text or "")[:MAX_QUESTION], MAX_SUGGESTIONS)
    reply = _ask_back_reply(options, inbound.channel) if options else Reply(text=ASK_BACK_TEXT)
    return Outcome(
        "ask_back",
        reply=reply,
        confidence=confidence,
        menu=ASK_BACK_MENU if options and inbound.channel == "sms" else None,
        misses=missed,
        matched={"ask_back": True, **({"confidence": confidence} if confidence is not None else {})},
    )
