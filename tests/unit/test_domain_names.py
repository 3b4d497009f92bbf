"""The Python side and ``nlu/domain/*.yml`` name the same intents, entities, slots, forms
and actions, both ways round, so the two cannot drift apart.

Python -> domain: the protocol's intents and entities, the FAQ's topic intents, every
action the action server registers, and the slot and form names the actions keep as
constants. Domain -> Python: every custom action is registered, every domain slot and
entity has its Python name, every intent has NLU examples or a payload that sends it.
Inside the Rasa project: forms, slot mappings, rules, stories and NLU examples only name
what the domain declares, and every custom action is called by something.

The domain is read as plain YAML (Rasa lives in ``.venv-rasa``, not here); the last tests
prove that each check reports a drift, on a copy of the real domain with one name changed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Iterable
from typing import Any

import pytest
from rasa_sdk.executor import ActionExecutor

import actions.status
import actions.tracker
from actions.faq import TOPIC_BY_INTENT
from actions.training import slots as training_slots
from ntsa_assistant.faq.answers import MENU_TOPICS, topic_command
from ntsa_assistant.protocol import Entity, Intent
from tests.support.rasa_domain import (
    BUILTIN_ACTIONS,
    BUILTIN_INTENTS,
    BUILTIN_SLOTS,
    Domain,
    StoryNames,
    load_config_actions,
    load_domain,
    load_domain_documents,
    load_heldout_intents,
    load_stories,
    parse_domain,
    parse_stories,
    read_yaml,
)

PROTOCOL_INTENTS = frozenset(intent.value for intent in Intent)
PROTOCOL_ENTITIES = frozenset(entity.value for entity in Entity)

# --- the checks, shared by the tests on the real project and the drift self-tests ---------


def missing(used: Iterable[str], declared: Iterable[str]) -> list[str]:
    """The names in ``used`` that ``declared`` lacks, sorted."""
    return sorted(set(used) - set(declared))


def unregistered_actions(domain: Domain, registered: Collection[str]) -> list[str]:
    return missing(domain.custom_actions(), registered)


def unlisted_actions(domain: Domain, registered: Collection[str]) -> list[str]:
    return missing(registered, domain.actions)


def implicit_actions(domain: Domain) -> set[str]:
    """The custom actions Rasa calls by name for a form: ``action_ask_*``, ``validate_*``."""
    return {
        name
        for form, required in domain.forms.items()
        for name in (
            f"validate_{form}",
            *(f"action_ask_{slot}" for slot in required),
            *(f"action_ask_{form}_{slot}" for slot in required),
        )
    }


def stray_implicit_actions(domain: Domain, registered: Collection[str]) -> list[str]:
    """Registered ``validate_<form>`` / ``action_ask_<slot>`` that Rasa would never call."""
    return missing(
        (name for name in registered if name.startswith(("action_ask_", "validate_"))),
        implicit_actions(domain),
    )


def uncalled_actions(domain: Domain, stepped: Collection[str]) -> list[str]:
    """Custom actions that no step, form or slot mapping ever runs."""
    return missing(
        domain.custom_actions(),
        {*stepped, *implicit_actions(domain), *domain.referenced("action")},
    )


def unaskable_slots(domain: Domain) -> list[str]:
    """Required slots with neither an ``action_ask_*`` action nor an ``utter_ask_*`` response."""
    return sorted(
        f"{form}: {slot}"
        for form, required in domain.forms.items()
        for slot in required
        if not {f"action_ask_{form}_{slot}", f"action_ask_{slot}"} & domain.actions
        and not {f"utter_ask_{form}_{slot}", f"utter_ask_{slot}"} & domain.responses
    )


def undeclared_required_slots(domain: Domain) -> list[str]:
    return sorted(
        f"{form}: {slot}"
        for form, required in domain.forms.items()
        for slot in required
        if slot not in domain.slots
    )


def unknown_references(
    domain: Domain, kinds: Collection[str], declared: Collection[str]
) -> list[str]:
    """References (``tests.support.rasa_domain.Reference``) of these kinds to undeclared names."""
    return sorted(
        str(ref) for ref in domain.references if ref.kind in kinds and ref.name not in declared
    )


def unreachable_intents(
    domain: Domain, trained: Collection[str], sent: Collection[str]
) -> list[str]:
    """Domain intents that NLU never predicts and no payload sends."""
    return missing(domain.intents - BUILTIN_INTENTS, {*trained, *sent})


def undeclared_story_intents(domain: Domain, stories: StoryNames) -> list[str]:
    return missing(stories.intents, domain.intents | BUILTIN_INTENTS)


def undeclared_story_actions(domain: Domain, used: Iterable[str]) -> list[str]:
    return missing(used, domain.actions | domain.forms.keys() | domain.responses | BUILTIN_ACTIONS)


def undeclared_story_slots(domain: Domain, stories: StoryNames) -> list[str]:
    return missing(stories.slots, domain.slots | BUILTIN_SLOTS)


def _class_constants(cls: type) -> set[str]:
    """The string class attributes, e.g. of ``actions.status.Slot``."""
    return {
        value
        for name, value in vars(cls).items()
        if not name.startswith("_") and isinstance(value, str)
    }


# --- the project as it is --------------------------------------------------------------


@pytest.fixture(scope="module")
def domain() -> Domain:
    return load_domain()


@pytest.fixture(scope="module")
def stories() -> StoryNames:
    return load_stories()


@pytest.fixture(scope="module")
def registered() -> frozenset[str]:
    """Every action the action server registers (``python -m rasa_sdk --actions actions``)."""
    executor = ActionExecutor()
    try:
        executor.register_package("actions")
    except SystemExit:  # how rasa_sdk reports an ImportError, after logging it
        pytest.fail("rasa_sdk cannot import the actions package: see the captured log")
    # register_package takes every Action subclass loaded in the process: keep only ours,
    # not the fakes another test module may define.
    return frozenset(
        name
        for name, run in executor.actions.items()
        if type(run.__self__).__module__.partition(".")[0] == "actions"
    )


@pytest.fixture(scope="module")
def python_slots() -> set[str]:
    """Every slot name the actions keep as a constant."""
    return {
        *_class_constants(actions.status.Slot),
        *training_slots.FORM_SLOTS,
        actions.tracker.LANGUAGE_SLOT,
    }


def test_the_domain_and_the_action_server_are_found(
    domain: Domain, registered: frozenset[str]
) -> None:
    # A glob or an import that finds nothing would make every check below pass.
    assert {"intents", "slots", "forms", "actions"} <= {s for s, _ in domain.declarations}
    assert "action_answer_faq" in registered


# Python -> domain


def test_protocol_intents_are_domain_intents(domain: Domain) -> None:
    assert missing(PROTOCOL_INTENTS, domain.intents) == [], (
        "ntsa_assistant.protocol.Intent values not declared in nlu/domain/*.yml"
    )


def test_protocol_entities_are_domain_entities(domain: Domain) -> None:
    assert missing(PROTOCOL_ENTITIES, domain.entities) == [], (
        "ntsa_assistant.protocol.Entity values not declared in nlu/domain/*.yml"
    )


def test_faq_topic_intents_are_domain_intents(domain: Domain) -> None:
    faq_intents = {topic_command(topic) for topic in MENU_TOPICS} | set(TOPIC_BY_INTENT)
    assert missing(faq_intents, domain.intents) == [], (
        "FAQ topic intents (ntsa_assistant.faq.answers, actions.faq.TOPIC_BY_INTENT) not "
        "declared in nlu/domain/*.yml"
    )


def test_registered_actions_are_listed_in_the_domain(
    domain: Domain, registered: frozenset[str]
) -> None:
    # Rasa 3 runs a custom action, even action_ask_<slot> and validate_<form>, only if the
    # domain lists it.
    assert unlisted_actions(domain, registered) == [], (
        "actions registered by the action server but missing under `actions:` in nlu/domain/*.yml"
    )


def test_registered_ask_and_validate_actions_name_domain_forms_and_slots(
    domain: Domain, registered: frozenset[str]
) -> None:
    assert stray_implicit_actions(domain, registered) == [], (
        "action_ask_<slot> / validate_<form> actions whose slot is no form's required slot, "
        "or whose form is not in nlu/domain/*.yml: Rasa never calls them"
    )


def test_action_slot_constants_are_domain_slots(domain: Domain, python_slots: set[str]) -> None:
    assert missing(python_slots, domain.slots) == [], (
        "slot constants (actions.status.Slot, actions.training.slots.FORM_SLOTS, "
        "actions.tracker.LANGUAGE_SLOT) not declared in nlu/domain/*.yml"
    )
    assert training_slots.REQUESTED_SLOT in BUILTIN_SLOTS


def test_action_form_constants_are_domain_forms(domain: Domain) -> None:
    forms = {actions.status.FORM, training_slots.FORM}
    assert missing(forms, domain.forms) == [], (
        "form constants (actions.status.FORM, actions.training.slots.FORM) not declared "
        "in nlu/domain/*.yml"
    )


# Domain -> Python


def test_domain_custom_actions_are_registered(domain: Domain, registered: frozenset[str]) -> None:
    assert unregistered_actions(domain, registered) == [], (
        "custom actions listed in nlu/domain/*.yml that the action server does not register"
    )


def test_domain_slots_have_python_constants(domain: Domain, python_slots: set[str]) -> None:
    assert missing(domain.slots, python_slots) == [], (
        "domain slots that no slot constant of the actions names (spelt as strings instead?)"
    )


def test_domain_entities_are_protocol_entities(domain: Domain) -> None:
    assert missing(domain.entities, PROTOCOL_ENTITIES) == [], (
        "entities in nlu/domain/*.yml missing from ntsa_assistant.protocol.Entity"
    )


def test_domain_intents_can_arrive(domain: Domain, stories: StoryNames) -> None:
    faq_intents = {topic_command(topic) for topic in MENU_TOPICS}
    assert unreachable_intents(domain, stories.nlu_intents, PROTOCOL_INTENTS | faq_intents) == [], (
        "domain intents with no NLU examples in nlu/data that no payload "
        "(ntsa_assistant.protocol.Intent, FAQ topic buttons) sends either"
    )


# Inside the Rasa project


def test_domain_custom_actions_are_called(domain: Domain, stories: StoryNames) -> None:
    assert uncalled_actions(domain, stories.actions) == [], (
        "custom actions in nlu/domain/*.yml that no rule or story step (nlu/data, "
        "nlu/tests/test_stories.yml), form or slot mapping runs"
    )


def test_no_name_is_declared_in_two_domain_files(domain: Domain) -> None:
    assert domain.declared_twice() == [], "names declared in more than one nlu/domain/*.yml"


def test_form_required_slots_are_domain_slots(domain: Domain) -> None:
    assert undeclared_required_slots(domain) == [], "forms' required_slots that are no slot"


def test_form_required_slots_can_be_asked(domain: Domain) -> None:
    assert unaskable_slots(domain) == [], (
        "required slots with neither action_ask_<slot> in `actions:` nor utter_ask_<slot> "
        "in `responses:`"
    )


def test_slot_mapping_entities_are_domain_entities(domain: Domain) -> None:
    assert unknown_references(domain, {"entity"}, domain.entities) == [], (
        "slot mappings naming an entity nlu/domain/*.yml does not declare"
    )


def test_slot_mapping_and_form_intents_are_domain_intents(domain: Domain) -> None:
    kinds = {"intent", "not_intent", "ignored_intents"}
    assert unknown_references(domain, kinds, domain.intents | BUILTIN_INTENTS) == [], (
        "slot mappings (intent, not_intent) or forms (ignored_intents) naming an undeclared intent"
    )


def test_slot_mapping_conditions_name_domain_forms_and_slots(domain: Domain) -> None:
    assert unknown_references(domain, {"active_loop"}, domain.forms) == [], (
        "slot mapping conditions whose active_loop is no form"
    )
    assert unknown_references(domain, {"requested_slot"}, domain.slots) == [], (
        "slot mapping conditions whose requested_slot is no slot"
    )


def test_slot_mapping_actions_are_domain_actions(domain: Domain) -> None:
    assert unknown_references(domain, {"action"}, domain.actions) == [], (
        "custom slot mappings naming an action not under `actions:`"
    )


def test_rule_and_story_intents_are_domain_intents(domain: Domain, stories: StoryNames) -> None:
    assert undeclared_story_intents(domain, stories) == [], (
        "intents of rules and stories (nlu/data, nlu/tests/test_stories.yml, their "
        "payload texts) not declared in nlu/domain/*.yml"
    )


def test_rule_and_story_actions_are_domain_actions(domain: Domain, stories: StoryNames) -> None:
    used = stories.actions | load_config_actions()
    assert undeclared_story_actions(domain, used) == [], (
        "`action:` steps (nlu/data, nlu/tests/test_stories.yml) and policy actions "
        "(nlu/config.yml) that are neither in nlu/domain/*.yml nor Rasa's own"
    )


def test_rule_and_story_loops_slots_and_entities_are_domain_names(
    domain: Domain, stories: StoryNames
) -> None:
    assert missing(stories.loops, domain.forms) == [], "`active_loop:` that is no form"
    assert undeclared_story_slots(domain, stories) == [], "`slot_was_set:` that is no slot"
    assert missing(stories.entities, domain.entities) == [], "entities that are not declared"


def test_nlu_example_intents_are_domain_intents(domain: Domain, stories: StoryNames) -> None:
    trained = stories.nlu_intents | load_heldout_intents()
    assert missing(trained, domain.intents | BUILTIN_INTENTS) == [], (
        "intents with NLU examples (nlu/data, nlu/tests/heldout) not declared in nlu/domain/*.yml"
    )


# --- the collector and the checks catch a drift ---------------------------------------

SHAPES = """
intents:
  - plain
  - with_options:
      use_entities: []
entities:
  - city
  - person:
      roles: [from, to]
slots:
  destination:
    type: text
    mappings:
      - type: from_entity
        entity: city
        intent: [plain, with_options]
        not_intent: other
        conditions:
          - active_loop: trip_form
            requested_slot: destination
          - active_loop: null
  confirmed:
    type: bool
    mappings:
      - type: custom
        action: validate_trip_form
forms:
  trip_form:
    ignored_intents: chitchat
    required_slots: [destination, confirmed]
actions:
  - validate_trip_form
  - action_ask_confirmed:
      send_domain: true
responses:
  utter_ask_destination:
    - text: Where to?
"""


def test_the_collector_reads_every_shape_of_a_domain() -> None:
    found = parse_domain([("inline.yml", read_yaml(SHAPES))])

    assert found.intents == {"plain", "with_options"}
    assert found.entities == {"city", "person"}
    assert found.slots == {"destination", "confirmed"}
    assert found.forms == {"trip_form": ("destination", "confirmed")}
    assert found.actions == {"validate_trip_form", "action_ask_confirmed"}
    assert found.responses == {"utter_ask_destination"}
    assert sorted(map(str, found.references)) == [
        "form trip_form: ignored_intents chitchat",
        "slot confirmed: action validate_trip_form",
        "slot destination: active_loop trip_form",
        "slot destination: entity city",
        "slot destination: intent plain",
        "slot destination: intent with_options",
        "slot destination: not_intent other",
        "slot destination: requested_slot destination",
    ]
    assert unaskable_slots(found) == []


STEPS = """
rules:
  - rule: r
    condition:
      - active_loop: trip_form
      - slot_was_set:
          - destination: Nairobi
    steps:
      - or:
          - intent: plain
          - intent: with_options
      - action: trip_form
      - active_loop: null
      - slot_was_set:
          - requested_slot: null
stories:
  - story: s
    steps:
      - user: |
          /book{"city": "Mombasa", "person": "me"}
        intent: book
      - action: action_book
      - intent: plain
        entities:
          - when: today
nlu:
  - intent: plain
    examples: |
      - hello
"""


def test_the_collector_reads_every_step_of_rules_and_stories() -> None:
    found = parse_stories([("inline.yml", read_yaml(STEPS))])

    assert found.intents == {"plain", "with_options", "book"}
    assert found.actions == {"trip_form", "action_book"}
    assert found.loops == {"trip_form"}
    assert found.slots == {"destination", "requested_slot"}
    assert found.entities == {"city", "person", "when"}
    assert found.nlu_intents == {"plain"}


Documents = dict[str, Any]


def _real_documents() -> Documents:
    return copy.deepcopy(dict(load_domain_documents()))


def _add_intent(docs: Documents) -> None:
    docs["nlu/domain/faq.yml"]["intents"].append("bogus_intent")


def _drop_intent(docs: Documents) -> None:
    docs["nlu/domain/faq.yml"]["intents"].remove("faq_menu")


def _drop_entity(docs: Documents) -> None:
    docs["nlu/domain/training.yml"]["entities"].remove("training_reference")


def _declare_twice(docs: Documents) -> None:
    docs["nlu/domain/training.yml"]["intents"].append("greet")


def _add_action(docs: Documents) -> None:
    docs["nlu/domain/status.yml"]["actions"].append("action_bogus")


def _drop_action(docs: Documents) -> None:
    docs["nlu/domain/status.yml"]["actions"].remove("action_ask_status_proof")


def _mapping_intent(docs: Documents) -> None:
    part = docs["nlu/domain/status.yml"]["slots"]["status_part"]
    part["mappings"].append({"type": "from_intent", "intent": "bogus_intent", "value": "x"})


def _mapping_entity(docs: Documents) -> None:
    audience = docs["nlu/domain/training.yml"]["slots"]["training_audience"]
    audience["mappings"][0]["entity"] = "bogus_entity"


def _mapping_loop(docs: Documents) -> None:
    proof = docs["nlu/domain/status.yml"]["slots"]["status_proof"]
    proof["mappings"][0]["conditions"][0]["active_loop"] = "bogus_form"


def _required_slot(docs: Documents) -> None:
    docs["nlu/domain/status.yml"]["forms"]["status_form"]["required_slots"].append("bogus_slot")


def _unrequire_slot(docs: Documents) -> None:
    docs["nlu/domain/status.yml"]["forms"]["status_form"]["required_slots"].remove("status_proof")


def _drop_form(docs: Documents) -> None:
    del docs["nlu/domain/status.yml"]["forms"]["status_form"]


def _drop_slot(docs: Documents) -> None:
    del docs["nlu/domain/status.yml"]["slots"]["status_stage"]


Check = Callable[[Domain, Domain], list[str]]  # (changed copy, the real domain) -> offenders

DRIFTS = [
    pytest.param(
        _add_intent,
        lambda changed, real: unreachable_intents(changed, set(), real.intents),
        ["bogus_intent"],
        id="domain intent nothing sends",
    ),
    pytest.param(
        _drop_intent,
        lambda changed, real: missing(PROTOCOL_INTENTS, changed.intents),
        ["faq_menu"],
        id="protocol intent not in domain",
    ),
    pytest.param(
        _drop_entity,
        lambda changed, real: missing(PROTOCOL_ENTITIES, changed.entities),
        ["training_reference"],
        id="protocol entity not in domain",
    ),
    pytest.param(
        _declare_twice,
        lambda changed, real: changed.declared_twice(),
        ["intents greet: nlu/domain/faq.yml, nlu/domain/training.yml"],
        id="intent declared twice",
    ),
    pytest.param(
        _add_action,
        lambda changed, real: unregistered_actions(changed, real.custom_actions()),
        ["action_bogus"],
        id="domain action not registered",
    ),
    pytest.param(
        _add_action,
        lambda changed, real: uncalled_actions(changed, real.custom_actions()),
        ["action_bogus"],
        id="domain action nothing calls",
    ),
    pytest.param(
        _drop_action,
        lambda changed, real: unlisted_actions(changed, real.custom_actions()),
        ["action_ask_status_proof"],
        id="registered action not in domain",
    ),
    pytest.param(
        _drop_action,
        lambda changed, real: unaskable_slots(changed),
        ["status_form: status_proof"],
        id="required slot nobody asks",
    ),
    pytest.param(
        _required_slot,
        lambda changed, real: undeclared_required_slots(changed),
        ["status_form: bogus_slot"],
        id="required slot not declared",
    ),
    pytest.param(
        _unrequire_slot,
        lambda changed, real: stray_implicit_actions(changed, real.custom_actions()),
        ["action_ask_status_proof"],
        id="ask action for no required slot",
    ),
    pytest.param(
        _drop_form,
        lambda changed, real: stray_implicit_actions(changed, real.custom_actions()),
        ["action_ask_status_id_number", "action_ask_status_proof", "validate_status_form"],
        id="validate action for no form",
    ),
    pytest.param(
        _mapping_intent,
        lambda changed, real: unknown_references(changed, {"intent"}, changed.intents),
        ["slot status_part: intent bogus_intent"],
        id="mapping intent not declared",
    ),
    pytest.param(
        _mapping_entity,
        lambda changed, real: unknown_references(changed, {"entity"}, changed.entities),
        ["slot training_audience: entity bogus_entity"],
        id="mapping entity not declared",
    ),
    pytest.param(
        _mapping_loop,
        lambda changed, real: unknown_references(changed, {"active_loop"}, changed.forms),
        ["slot status_proof: active_loop bogus_form"],
        id="mapping condition names no form",
    ),
    pytest.param(
        _drop_slot,
        lambda changed, real: missing({"status_stage"}, changed.slots),
        ["status_stage"],
        id="python slot constant not in domain",
    ),
]


@pytest.mark.parametrize(("change", "check", "offenders"), DRIFTS)
def test_a_check_reports_a_drift_in_a_copy_of_the_domain(
    change: Callable[[Documents], None], check: Check, offenders: list[str]
) -> None:
    real = parse_domain(_real_documents().items())
    assert check(real, real) == []

    docs = _real_documents()
    change(docs)

    assert check(parse_domain(docs.items()), real) == offenders


BOGUS_RULE = """
rules:
  - rule: bogus
    condition:
      - active_loop: bogus_form
    steps:
      - intent: bogus_intent
      - action: action_bogus
      - slot_was_set:
          - bogus_slot: x
"""


def test_story_checks_report_names_the_domain_lacks() -> None:
    real = parse_domain(_real_documents().items())
    found = parse_stories([("inline.yml", read_yaml(BOGUS_RULE))])

    assert undeclared_story_intents(real, found) == ["bogus_intent"]
    assert undeclared_story_actions(real, found.actions) == ["action_bogus"]
    assert undeclared_story_slots(real, found) == ["bogus_slot"]
    assert missing(found.loops, real.forms) == ["bogus_form"]
