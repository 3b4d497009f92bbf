"""Who writes to the assistant in a load run, and what they say.

A run is a stream of user turns at a fixed rate (open loop: a turn is due on schedule
whether or not earlier answers came). Each due turn has a kind — FAQ, status check or
training registration, in the proportions of :data:`MIX` — and goes to a conversation
of that kind which is waiting for its next turn (it has its previous answer and has
"thought" a moment), or, when none is waiting, opens a new conversation. So the rate and
the mix hold exactly, each conversation still sends a turn only once the previous answer
arrived, and when answers are slow more conversations are open at once, as people keep
arriving.

Conversations are scripts written like the end-to-end tests (tests/e2e/test_status.py,
test_training.py, test_typed_answers.py): they read the bot's replies by the assistant's
own texts (:class:`Texts`) in either language, tap buttons or type their titles, share
their own contact. The phrasings are the held-out NLU sets (nlu/tests/heldout/) and the
end-to-end tests'. A reply that is an apology is tried again after a short wait, as a
person would; a reply that the script cannot read ends the conversation.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from ruamel.yaml import YAML

from ntsa_assistant.core.i18n import LANGUAGES, Lang, catalog
from tools.bench_stats import AnswerSizes, Turn

ROOT = Path(__file__).resolve().parent.parent
HELDOUT = ROOT / "nlu" / "tests" / "heldout"
STYLES = ("en", "sw", "mixed")  # the held-out files; "mixed" is code-mixed / Sheng

# Share of user turns (messages) by kind; turns per conversation differ, so conversation
# starts are not in this proportion.
MIX: dict[str, float] = {"faq": 0.70, "status": 0.15, "registration": 0.15}
FAQ_FOLLOW_UP = 0.3  # a FAQ chat asks a second question this often
TYPED = 0.5  # a registration is typed in words this often (else tapped)
SHARED_PHONE = 0.5  # a registrant shares their contact this often (else types the number)
MOTOR_DEALER = 0.25  # a registrant is a motor dealer (asked a KRA PIN) this often
EMAIL = 0.3  # a registrant gives an e-mail address this often (else skips)
RETRIES = 4  # an apology is answered by trying the same thing again, at most this often

# Phrasings from the end-to-end tests, beside the held-out sets.
E2E_FAQ = {
    "en": ["When does TIMS close?", "When is the deadline for pending TIMS applications?"],
    "sw": ["TIMS itafungwa lini?", "Maombi yangu ambayo hayajakamilika kwenye TIMS yatakuwaje?"],
    "mixed": ["Niaje, TIMS inaclose lini?", "application yangu iko pending kwa TIMS, nifanye aje?"],
}
E2E_STATUS = {
    "en": ["check my status", "is my company linked?"],
    "sw": ["naomba kuangalia hali ya akaunti yangu ya ecitizen"],
    "mixed": [],
}
E2E_TRAINING = {
    "en": ["I want to attend a training"],
    "sw": ["nataka kuhudhuria mafunzo"],
    "mixed": [],
}
# Telegram's language_code of the person: mixed writers are set to either.
STYLE_LANGUAGE: dict[str, tuple[str, ...]] = {"en": ("en",), "sw": ("sw",), "mixed": ("en", "sw")}
NAMES = (
    "Wanjiru Kamau",
    "Otieno Ochieng",
    "Achieng Atieno",
    "Kiprono Langat",
    "Mwikali Musyoka",
    "Baraka Mwangi",
    "Amina Wekesa",
    "Njeri Wairimu",
)
KRA_PIN = "P051234567K"
APOLOGIES = (
    "common.apology_unavailable",
    "common.apology_error",
    "training.save_failed",
    "status.unavailable",
)
# The gateway's own apologies (Rasa unreachable or erring, bot/conversation.py) are the whole
# answer, one message; the others come from the actions, whose size is learnt like any reply.
GATEWAY_APOLOGY_SIZES = {"common.apology_unavailable": 1, "common.apology_error": 1}


# --- phrasings -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Phrases:
    """What people say to start each kind of conversation, by style (en, sw, mixed)."""

    faq: dict[str, list[str]]
    status: dict[str, list[str]]
    training: dict[str, list[str]]


def read_heldout(directory: Path = HELDOUT) -> dict[str, dict[str, list[str]]]:
    """``{style: {intent: [examples]}}`` from the held-out NLU files."""
    yaml = YAML(typ="safe")
    found: dict[str, dict[str, list[str]]] = {}
    for style in STYLES:
        data = yaml.load((directory / f"{style}.yml").read_text("utf-8"))
        found[style] = {
            item["intent"]: [
                line.strip()[2:].strip()
                for line in str(item["examples"]).splitlines()
                if line.strip().startswith("- ")
            ]
            for item in data["nlu"]
            if "intent" in item
        }
    return found


def load_phrases(directory: Path = HELDOUT) -> Phrases:
    """FAQ questions (every ``faq_*`` intent), status and training openers, by style."""
    heldout = read_heldout(directory)
    faq = {
        style: [
            text
            for intent, texts in heldout[style].items()
            if intent.startswith("faq_")
            for text in texts
        ]
        + E2E_FAQ[style]
        for style in STYLES
    }
    status = {s: heldout[s].get("status_check", []) + E2E_STATUS[s] for s in STYLES}
    training = {s: heldout[s].get("training_register", []) + E2E_TRAINING[s] for s in STYLES}
    return Phrases(faq, status, training)


# --- the assistant's texts -------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{[A-Za-z_][^{}]*\}")


def template_pattern(template: str) -> re.Pattern[str]:
    """A text with ``{placeholders}`` as a pattern that matches it filled in."""
    literals = _PLACEHOLDER.split(template)
    return re.compile("(.+?)".join(re.escape(part) for part in literals), re.DOTALL)


class Texts:
    """Recognises the assistant's own texts (``status.ask_id``, …) in either language."""

    def __init__(self) -> None:
        self._patterns: dict[str, list[tuple[Lang, re.Pattern[str]]]] = {}

    def _compiled(self, key: str) -> list[tuple[Lang, re.Pattern[str]]]:
        if key not in self._patterns:
            self._patterns[key] = [
                (lang, template_pattern(catalog(lang)[key])) for lang in LANGUAGES
            ]
        return self._patterns[key]

    def says(self, text: str, key: str) -> Lang | None:
        """The language ``text`` is ``key`` in, or None: the whole text, its first line (a
        list's header), or a run of its paragraphs (the gateway sends a turn's texts as
        one message, paragraphs apart: "not valid" above the question asked again)."""
        paragraphs = text.split("\n\n")
        candidates = [text, text.split("\n", 1)[0]] + [
            "\n\n".join(paragraphs[start:end])
            for start in range(len(paragraphs))
            for end in range(start + 1, len(paragraphs) + 1)
        ]
        for lang, pattern in self._compiled(key):
            if any(pattern.fullmatch(candidate) for candidate in candidates):
                return lang
        return None

    def title(self, key: str, titles: Sequence[str]) -> str | None:
        """The button among ``titles`` that is ``key`` in either language."""
        wanted = {catalog(lang)[key] for lang in LANGUAGES}
        return next((title for title in titles if title in wanted), None)


TEXTS = Texts()


@dataclass(frozen=True)
class Msg:
    """One message the bot sent, as the person sees it."""

    text: str
    buttons: tuple[str, ...] = ()  # inline buttons' titles
    asks_contact: bool = False  # it brings a "share my phone number" keyboard
    document: bool = False


@dataclass(frozen=True)
class Expect:
    """What a step waits for: a message that says one of ``keys``, or shows a button that
    is one of ``buttons``; ``anything`` takes the first message whatever it says.

    ``sizes``: how many messages the whole answer has, per key (``"*"`` for anything),
    where known: the step is over once they are all there.
    """

    keys: tuple[str, ...] = ()
    buttons: tuple[str, ...] = ()
    anything: bool = False
    sizes: Mapping[str, int] = field(default_factory=dict)

    def complete(self, messages: Sequence[Msg]) -> bool:
        """The expected reply came with its whole answer, or an apology came."""
        if apology(messages):
            return True
        hit = self.found(messages)
        return hit is not None and len(messages) >= self.sizes.get(hit[1], 1)

    def found(self, messages: Sequence[Msg]) -> tuple[Msg, str, Lang | None] | None:
        """The first message that satisfies this, the key it matched ("*" for anything)
        and the language it is in (None when that says nothing of the language)."""
        for message in messages:
            if self.anything:
                return message, "*", None
            for key in self.keys:
                if lang := TEXTS.says(message.text, key):
                    return message, key, lang
            for key in self.buttons:
                if title := TEXTS.title(key, message.buttons):
                    return (
                        message,
                        key,
                        next((lang for lang in LANGUAGES if catalog(lang)[key] == title), None),
                    )
        return None


def apology(messages: Sequence[Msg]) -> str | None:
    """The apology among ``messages`` (its text key), if the bot apologised."""
    for message in messages:
        for key in APOLOGIES:
            if TEXTS.says(message.text, key):
                return key
    return None


# --- what a person does --------------------------------------------------------------------


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Press:
    title: str  # an inline button of the bot's latest messages


@dataclass(frozen=True)
class Share:
    phone: str  # the person's own contact, as Telegram spells it (no "+")


Action = Say | Press | Share


@dataclass
class Chat:
    """One person's chat, in one phase: the transport keeps its own state here."""

    chat_id: int
    kind: str
    language_code: str  # Telegram's, for the person
    state: dict[str, object] = field(default_factory=dict)


class Channel(Protocol):
    """Carries a person's action to the assistant and brings the answer back.

    ``whole_answers``: whether an answer always comes whole (then its size is learnt).
    """

    phase: str
    whole_answers: bool

    async def send(self, chat: Chat, action: Action, turn: Turn, expect: Expect) -> list[Msg]:
        """Sends ``action``; the messages answering it, once ``expect`` is met (or the
        answer stalled, or the run ended). Sets ``turn.sent_at`` (and what it knows)."""
        ...


class RunOver(Exception):
    """The run's time is up: the conversation sends nothing more."""


class Unexpected(Exception):
    """The bot's reply was not what the script can read at this step."""


class Apologised(Exception):
    """The bot kept apologising for the same step."""


class Unanswered(Exception):
    """No answer came before the run ended."""


@dataclass
class Conversation:
    """One conversation's record: its turns and how it ended."""

    kind: str
    chat_id: int
    style: str
    turns: list[Turn] = field(default_factory=list)
    outcome: str = "open"  # done, cut (time was up), unexpected:<step>, apology:<step>, …
    registered: str | None = None  # "confirmed" / "waitlisted": what the person was told
    retries: int = 0
    unread: tuple[str, ...] = ()  # the reply the script could not read, if it ended so


class Pacer(Protocol):
    async def wait(self, kind: str) -> None:
        """Returns when this kind's next turn is due."""
        ...


class Unpaced:
    """No schedule: each turn goes as soon as the previous answer is read."""

    async def wait(self, kind: str) -> None:
        return None


class Person:
    """Drives one conversation through a :class:`Channel`, at the pace the run allows."""

    def __init__(
        self,
        channel: Channel,
        chat: Chat,
        record: Conversation,
        slots: Pacer,
        rng: random.Random,
        think: float,
        retry_wait: float,
        sizes: AnswerSizes,
    ) -> None:
        self.channel = channel
        self.sizes = sizes
        self.chat = chat
        self.record = record
        self.slots = slots
        self.rng = rng
        self.think = think
        self.retry_wait = retry_wait
        self.lang: Lang = "en"  # the language the bot answers in, as last seen
        self._granted = True  # the slot that opened this conversation is its first turn

    async def _pace(self, pause: float) -> None:
        if self._granted:
            self._granted = False
            return
        await asyncio.sleep(pause * self.rng.uniform(0.5, 1.5))
        await self.slots.wait(self.record.kind)

    async def turn(
        self, step: str, action: Action, expect: Expect, sized_as: str | None = None
    ) -> tuple[Msg, str, list[Msg]]:
        """One step: the message that met ``expect``, the key it matched, all messages.

        ``sized_as``: what the whole answer's size is learnt under (default: the step).
        An apology is met by trying the same action again after ``retry_wait``.
        """
        pause = self.think
        kind = self.record.kind
        sized_as = sized_as or step
        expect = replace(expect, sizes=self.sizes.for_step(kind, sized_as))
        for _attempt in range(RETRIES + 1):
            await self._pace(pause)
            turn = Turn(self.channel.phase, kind, step, self.chat.chat_id, 0.0)
            try:
                messages = await self.channel.send(self.chat, action, turn, expect)
            finally:
                if turn.sent_at:  # a turn that could not even be sent is no turn
                    self.record.turns.append(turn)
            sorry = apology(messages)
            hit = None if sorry and expect.anything else expect.found(messages)
            if hit is not None:
                message, key, lang = hit
                turn.reply = "ok"
                self.lang = lang or self.lang
                if self.channel.whole_answers:
                    self.sizes.learn(kind, sized_as, key, len(messages))
                turn.expected = (
                    turn.messages if self.channel.whole_answers else expect.sizes.get(key)
                )
                return message, key, messages
            if not messages:
                turn.reply = "none"
                raise Unanswered(step)
            if sorry is None:
                turn.reply = "unexpected"
                self.record.unread = tuple(m.text[:160] for m in messages)
                raise Unexpected(step)
            turn.reply = f"apology:{sorry}"
            if not self.channel.whole_answers:
                turn.expected = expect.sizes.get(sorry) or GATEWAY_APOLOGY_SIZES.get(sorry)
            self.record.retries += 1
            pause = self.retry_wait
        raise Apologised(step)

    def text(self, key: str) -> str:
        return catalog(self.lang)[key]


# --- the scripts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    """A person on record (generated for the run): ID number and the phone on record."""

    id_number: str
    phone: str  # E.164


def faq_size_key(question: str) -> str:
    """A question's answer may hold one message per topic it asks about: its size is
    known per question."""
    return f"question:{question}"


async def faq_chat(person: Person, questions: Sequence[str]) -> None:
    question = person.rng.choice(questions)
    anything = Expect(anything=True)
    await person.turn("question", Say(question), anything, faq_size_key(question))
    if person.rng.random() < FAQ_FOLLOW_UP:
        question = person.rng.choice(questions)
        await person.turn("follow-up", Say(question), anything, faq_size_key(question))


async def status_check(person: Person, openers: Sequence[str], account: Account) -> None:
    """Asks, types the ID, taps "share my phone number": the status answer follows."""
    await person.turn("ask", Say(person.rng.choice(openers)), Expect(("status.ask_id",)))
    await person.turn("id", Say(account.id_number), Expect(("status.ask_proof",)))
    await person.turn("contact", Share(account.phone.lstrip("+")), Expect(("status.header",)))


def _choose(person: Person, typed: bool, title: str, number: int) -> Action:
    """Tap ``title``, or type it: its number in the menu, or the title in small letters."""
    if not typed:
        return Press(title)
    return Say(str(number) if person.rng.random() < 0.5 else title.lower())


async def registration(person: Person, openers: Sequence[str], n: int) -> None:
    """The whole training registration form, tapped or typed (as the e2e tests do)."""
    rng = person.rng
    typed = rng.random() < TYPED
    dealer = rng.random() < MOTOR_DEALER
    phone = f"+25472{n % 10_000_000:07d}"
    audience_key = "training.audience." + ("motor_dealers" if dealer else "motorists")

    menu, _, _ = await person.turn(
        "start", Say(rng.choice(openers)), Expect(("training.ask_audience",))
    )
    title = TEXTS.title(audience_key, menu.buttons)
    if title is None:
        raise Unexpected("audience")
    sessions, key, _ = await person.turn(
        "audience",
        _choose(person, typed, title, menu.buttons.index(title) + 1),
        Expect(("training.ask_session", "training.no_sessions")),
    )
    if key == "training.no_sessions":
        raise Unexpected("no sessions")
    stop = TEXTS.title("training.button_stop", sessions.buttons)
    choices = [b for b in sessions.buttons if b != stop]
    if not choices:
        raise Unexpected("sessions")
    index = rng.randrange(len(choices))
    _, key, _ = await person.turn(
        "session",
        _choose(person, typed, choices[index], sessions.buttons.index(choices[index]) + 1),
        Expect(("training.ask_name",), buttons=("training.button_waitlist",)),
    )
    if key == "training.button_waitlist":
        await person.turn(
            "waitlist",
            Press(person.text("training.button_waitlist")),
            Expect(("training.ask_name",)),
        )
    name = rng.choice(NAMES)  # a name holds no digits
    await person.turn("name", Say(name), Expect(("training.ask_phone",)))
    shared = rng.random() < SHARED_PHONE
    give_phone: Action = Share(phone.lstrip("+")) if shared else Say("0" + phone[4:])
    await person.turn("phone", give_phone, Expect(("training.ask_email",)))
    asked_pin_or_confirm = Expect(("training.ask_kra_pin",), buttons=("training.button_confirm",))
    if rng.random() < EMAIL:
        email: Action = Say(f"person{n}@example.com")
    elif typed:
        email = Say("skip" if person.lang == "en" else "ruka")
    else:
        email = Press(person.text("training.button_skip"))
    _, key, _ = await person.turn("email", email, asked_pin_or_confirm)
    if key == "training.ask_kra_pin":
        await person.turn("kra_pin", Say(KRA_PIN), Expect(buttons=("training.button_confirm",)))
    yes = "yes" if person.lang == "en" else "ndiyo"
    confirm: Action = Say(yes) if typed else Press(person.text("training.button_confirm"))
    _, key, _ = await person.turn(
        "confirm", confirm, Expect(("training.confirmed", "training.waitlisted"))
    )
    person.record.registered = "confirmed" if key == "training.confirmed" else "waitlisted"


# --- the schedule --------------------------------------------------------------------------


def kind_sequence(weights: Mapping[str, float]) -> Iterator[str]:
    """Kinds in exact proportion to ``weights``, evenly interleaved (smooth weighted
    round-robin, as nginx balances upstreams): deterministic, no clumps."""
    if not weights or min(weights.values()) < 0 or sum(weights.values()) <= 0:
        raise ValueError("weights must be non-negative and not all zero")
    total = sum(weights.values())
    current = dict.fromkeys(weights, 0.0)
    while True:
        for kind, weight in weights.items():
            current[kind] += weight
        best = max(current, key=lambda k: current[k])
        current[best] -= total
        yield best


@dataclass
class Lag:
    """How late the schedule ran (the load generator's own health)."""

    count: int = 0
    total: float = 0.0
    worst: float = 0.0
    late_10ms: int = 0

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        self.worst = max(self.worst, seconds)
        self.late_10ms += seconds > 0.010

    def as_dict(self) -> dict[str, float | int]:
        mean = self.total / self.count if self.count else 0.0
        return {
            "due_turns": self.count,
            "mean_ms": round(mean * 1000, 2),
            "max_ms": round(self.worst * 1000, 1),
            "later_than_10ms": self.late_10ms,
        }


class Slots:
    """The open-loop schedule: ``rate`` turns a second for ``duration`` seconds.

    Each due turn goes to the longest-waiting conversation of its kind, else ``opener``
    starts a new conversation of that kind, whose first turn it is.
    """

    def __init__(
        self, rate: float, weights: Mapping[str, float], opener: Callable[[str], None]
    ) -> None:
        if rate <= 0:
            raise ValueError("the rate must be positive")
        self.rate = rate
        self.weights = dict(weights)
        self._opener = opener
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {k: deque() for k in weights}
        self._over = False
        self.lag = Lag()
        self.opened: dict[str, int] = dict.fromkeys(weights, 0)
        self.due: dict[str, int] = dict.fromkeys(weights, 0)

    async def wait(self, kind: str) -> None:
        """A conversation is ready for its next turn: returns when that turn is due."""
        if self._over:
            raise RunOver
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[kind].append(future)
        await future

    async def run(self, duration: float, started: Callable[[float], None] | None = None) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        if started is not None:
            started(start)
        kinds = kind_sequence(self.weights)
        for number in itertools.count():
            due = start + number / self.rate
            if due - start >= duration:
                break
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.lag.add(max(0.0, loop.time() - due))
            kind = next(kinds)
            self.due[kind] += 1
            waiting = self._waiting[kind]
            while waiting and waiting[0].done():
                waiting.popleft()
            if waiting:
                waiting.popleft().set_result(None)
            else:
                self.opened[kind] += 1
                self._opener(kind)
        self.close()

    def close(self) -> None:
        """Time is up: every waiting conversation ends."""
        self._over = True
        for waiting in self._waiting.values():
            while waiting:
                future = waiting.popleft()
                if not future.done():
                    future.set_exception(RunOver())


async def converse(person: Person, script: Awaitable[None]) -> None:
    """Runs one conversation's script and records how it ended."""
    record = person.record
    try:
        await script
        record.outcome = "done"
    except RunOver:
        record.outcome = "cut"
    except Unexpected as exc:
        record.outcome = f"unexpected:{exc}"
    except Apologised as exc:
        record.outcome = f"apology:{exc}"
    except Unanswered as exc:
        record.outcome = f"unanswered:{exc}"
