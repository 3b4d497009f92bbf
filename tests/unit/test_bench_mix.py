"""Who writes in the load benchmark and what they say (tools/bench_mix.py): the mix, the
open-loop schedule, reading the assistant's replies, and the scripts' turns."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from collections.abc import Callable

import pytest

from ntsa_assistant.core.i18n import t
from ntsa_assistant.core.masking import mask_id_number
from tools.bench_mix import (
    MIX,
    RETRIES,
    Account,
    Action,
    Chat,
    Conversation,
    Expect,
    Msg,
    Person,
    Press,
    RunOver,
    Say,
    Share,
    Slots,
    Unpaced,
    converse,
    kind_sequence,
    load_phrases,
    registration,
    status_check,
    template_pattern,
)
from tools.bench_stats import AnswerSizes, Turn


def test_kinds_come_in_exact_proportion_and_evenly_spread() -> None:
    kinds = list(itertools.islice(kind_sequence(MIX), 100))
    assert Counter(kinds) == {"faq": 70, "status": 15, "registration": 15}
    # Evenly: in every 20 turns, the same 14 / 3 / 3.
    for start in range(0, 100, 20):
        assert Counter(kinds[start : start + 20]) == {"faq": 14, "status": 3, "registration": 3}


def test_kind_sequence_refuses_weights_that_make_no_mix() -> None:
    with pytest.raises(ValueError, match="weights"):
        next(kind_sequence({"faq": 0.0}))


def test_a_template_matches_its_text_filled_in_and_nothing_else() -> None:
    pattern = template_pattern("Status for ID {id}:")
    assert pattern.fullmatch("Status for ID ******02:")
    assert not pattern.fullmatch("Status for ID :")
    assert not pattern.fullmatch("Status for ID 1: and more")


def test_replies_are_read_in_either_language() -> None:
    proof = Msg(t("sw", "status.ask_proof", id=mask_id_number("21000102")))
    found = Expect(("status.ask_proof",)).found([Msg("something else"), proof])
    assert found == (proof, "status.ask_proof", "sw")
    summary = t("en", "training.confirm", title="T", when="W", name="N", phone="P", email="E",
                pin_line="")  # fmt: skip
    menu = Msg(summary, (t("en", "training.button_confirm"),))
    assert Expect(buttons=("training.button_confirm",)).found([menu]) == (
        menu,
        "training.button_confirm",
        "en",
    )
    assert Expect(("status.ask_id",)).found([proof]) is None


def test_a_reply_is_read_in_a_message_that_holds_a_turns_texts_together() -> None:
    asked = t("sw", "training.ask_phone")
    together = Msg(f"{t('sw', 'training.phone_invalid')}\n\n{asked}")
    assert Expect(("training.ask_phone",)).found([together]) == (
        together,
        "training.ask_phone",
        "sw",
    )
    confirmed = t("en", "training.confirmed", reference="R", title="T", when="W", join_url="U")
    caption = Msg(f"{t('en', 'training.already')}\n\n{confirmed}\n\nCalendar", document=True)
    assert Expect(("training.confirmed",)).found([caption]) == (caption, "training.confirmed", "en")
    assert Expect(("training.ask_name",)).found([together]) is None


def test_a_step_is_complete_with_its_whole_answer_or_an_apology() -> None:
    proof = Msg(t("en", "status.ask_proof", id="******02"), asks_contact=True)
    alternative = Msg(t("en", "status.code_alternative"))
    expect = Expect(("status.ask_proof",), sizes={"status.ask_proof": 2})
    assert not expect.complete([proof])
    assert expect.complete([proof, alternative])
    assert expect.complete([Msg(t("sw", "common.apology_unavailable"))])
    assert Expect(anything=True).complete([Msg("any answer")])


def test_phrases_come_from_the_held_out_sets_and_the_e2e_tests() -> None:
    phrases = load_phrases()
    assert "On which day does the TIMS portal go offline?" in phrases.faq["en"]
    assert "Niaje, TIMS inaclose lini?" in phrases.faq["mixed"]
    assert "chek my acc" in phrases.status["en"]
    assert "check my status" in phrases.status["en"]
    assert "nataka kuhudhuria mafunzo" in phrases.training["sw"]
    every_faq = {text for texts in phrases.faq.values() for text in texts}
    assert "chek my acc" not in every_faq  # a status check is not a FAQ question


async def test_a_due_turn_goes_to_a_waiting_conversation_before_a_new_one() -> None:
    opened: list[str] = []
    slots = Slots(rate=100.0, weights={"faq": 1.0}, opener=opened.append)
    waiting = asyncio.create_task(slots.wait("faq"))
    await asyncio.sleep(0)  # it waits now
    await slots.run(duration=0.035)  # four turns are due: one to it, three new chats
    await waiting
    assert slots.due == {"faq": 4}
    assert opened == ["faq", "faq", "faq"]
    with pytest.raises(RunOver):
        await slots.wait("faq")  # the run is over


# --- a person, against a made-up assistant ----------------------------------------------------


class Assistant:
    """A channel whose answers come from ``answer(action)``; records what was sent."""

    phase = "test"
    whole_answers = True

    def __init__(self, answer: Callable[[Action], list[Msg]]) -> None:
        self.answer = answer
        self.sent: list[Action] = []

    async def send(self, chat: Chat, action: Action, turn: Turn, expect: Expect) -> list[Msg]:
        self.sent.append(action)
        turn.sent_at = time.monotonic()
        messages = self.answer(action)
        turn.messages = turn.expected = len(messages)
        return messages


def person(channel: Assistant, kind: str = "status") -> Person:
    record = Conversation(kind, 1, "en")
    return Person(
        channel, Chat(1, kind, "en"), record, Unpaced(), random.Random(1), 0.0, 0.0, AnswerSizes()
    )


def status_answers(action: Action) -> list[Msg]:
    if isinstance(action, Say) and action.text == "30000001":
        return [
            Msg(t("en", "status.ask_proof", id="******01"), asks_contact=True),
            Msg(t("en", "status.code_alternative")),
        ]
    if isinstance(action, Share):
        return [Msg(t("en", "status.header", id="******01") + "\n…")]
    return [Msg(t("en", "status.ask_id"))]


async def test_a_status_check_asks_gives_the_id_and_shares_the_own_phone() -> None:
    assistant = Assistant(status_answers)
    someone = person(assistant)
    account = Account("30000001", "+254710000001")
    await converse(someone, status_check(someone, ["check my status"], account))
    assert assistant.sent == [Say("check my status"), Say("30000001"), Share("254710000001")]
    assert someone.record.outcome == "done"
    assert [turn.reply for turn in someone.record.turns] == ["ok", "ok", "ok"]
    assert someone.sizes.size("status", "id", "status.ask_proof") == 2


async def test_an_apology_is_met_by_trying_again_and_a_strange_reply_ends_it() -> None:
    replies = iter(
        [[Msg(t("en", "common.apology_unavailable"))], [Msg(t("en", "status.ask_id"))]]
        + [[Msg("Sorry, I did not get that")]]
    )
    assistant = Assistant(lambda action: next(replies))
    someone = person(assistant)
    await converse(someone, status_check(someone, ["check my status"], Account("1", "+2547")))
    assert assistant.sent == [Say("check my status"), Say("check my status"), Say("1")]
    assert someone.record.outcome == "unexpected:id"
    assert someone.record.unread == ("Sorry, I did not get that",)
    assert [turn.reply for turn in someone.record.turns] == [
        "apology:common.apology_unavailable",
        "ok",
        "unexpected",
    ]


async def test_a_person_gives_up_after_apologies_at_every_try() -> None:
    assistant = Assistant(lambda action: [Msg(t("en", "common.apology_error"))])
    someone = person(assistant)
    await converse(someone, status_check(someone, ["check my status"], Account("1", "+2547")))
    assert len(assistant.sent) == RETRIES + 1
    assert someone.record.outcome == "apology:ask"


class TrainingDesk:
    """A made-up assistant that runs the registration form (in English), step by step."""

    def __init__(self) -> None:
        self.step = "start"
        self.dealer = False
        self.motorist, self.dealer_title = (
            t("en", "training.audience.motorists"),
            t("en", "training.audience.motor_dealers"),
        )
        self.cancel = t("en", "training.button_stop")

    def __call__(self, action: Action) -> list[Msg]:
        step, self.step = self.step, ""
        if step == "start":
            self.step = "audience"
            return [Msg(t("en", "training.ask_audience"), (self.motorist, self.dealer_title))]
        if step == "audience":
            assert isinstance(action, Press | Say)
            chosen = action.title if isinstance(action, Press) else action.text
            self.dealer = chosen in (self.dealer_title, self.dealer_title.lower(), "2")
            self.step = "session"
            menu = t("en", "training.ask_session") + "\n1. A\n2. B"
            return [Msg(menu, ("18 Jan, 10:00", "19 Jan, 10:00", self.cancel))]
        if step == "session":
            self.step = "name"
            return [Msg(t("en", "training.ask_name"), (self.cancel,))]
        if step == "name":
            assert isinstance(action, Say)
            assert not any(c.isdigit() for c in action.text)  # the assistant refuses digits
            self.step = "phone"
            return [Msg(t("en", "training.ask_phone"), asks_contact=True)]
        if step == "phone":
            self.step = "email"
            return [Msg(t("en", "training.ask_email"), (t("en", "training.button_skip"),))]
        if step == "email" and self.dealer:
            self.step = "pin"
            return [Msg(t("en", "training.ask_kra_pin"))]
        if step in ("email", "pin"):
            self.step = "confirm"
            return [Msg("Please check your details", (t("en", "training.button_confirm"),))]
        assert step == "confirm"
        confirmed = t("en", "training.confirmed", reference="R", title="T", when="W",
                      join_url="U")  # fmt: skip
        return [Msg(confirmed), Msg("Calendar invitation: T", document=True)]


async def test_the_registration_script_fills_the_whole_form_on_every_branch() -> None:
    steps_seen: set[str] = set()
    sent: list[Action] = []
    for seed in range(24):
        assistant = Assistant(TrainingDesk())
        someone = person(assistant, "registration")
        someone.rng = random.Random(seed)
        await converse(someone, registration(someone, ["I want to attend a training"], seed))
        assert someone.record.outcome == "done"
        assert someone.record.registered == "confirmed"
        steps_seen |= {turn.step for turn in someone.record.turns}
        sent += assistant.sent
    assert steps_seen == {"start", "audience", "session", "name", "phone", "email", "kra_pin",
                          "confirm"}  # fmt: skip
    assert Say("yes") in sent  # typed
    assert Press(t("en", "training.button_confirm")) in sent  # tapped
    assert any(isinstance(action, Share) for action in sent)
