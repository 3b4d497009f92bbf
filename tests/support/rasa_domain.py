"""The Rasa project's names, read from its YAML as plain data.

Rasa itself is not installed beside the tests (it lives in ``.venv-rasa``), so this reads
``nlu/domain/*.yml`` (merged, as ``rasa train`` merges a domain directory), the rules and
stories of ``nlu/data`` and the test stories, and collects the names they declare and use.
``tests/unit/test_domain_names.py`` compares them with the names the Python side uses.

Parsing takes ``(source, document)`` pairs rather than paths, so a test can feed it a copy
of the real documents with one name changed, or a small inline YAML text.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
NLU = ROOT / "nlu"
DOMAIN_DIR = NLU / "domain"
DATA_DIR = NLU / "data"
TEST_STORIES = NLU / "tests" / "test_stories.yml"
HELDOUT_DIR = NLU / "tests" / "heldout"
CONFIG = NLU / "config.yml"

# Rasa 3.6's own names, which a project uses without declaring them (Rasa docs, "Default
# Actions", "Default intents", "Slots": requested_slot, session_started_metadata).
BUILTIN_ACTIONS = frozenset(
    {
        "action_listen",
        "action_restart",
        "action_session_start",
        "action_default_fallback",
        "action_deactivate_loop",
        "action_revert_fallback_events",
        "action_default_ask_affirmation",
        "action_default_ask_rephrase",
        "action_two_stage_fallback",
        "action_unlikely_intent",
        "action_back",
        "action_extract_slots",
        "...",  # a rule snippet: "any steps here"
    }
)
BUILTIN_INTENTS = frozenset({"restart", "back", "out_of_scope", "session_start", "nlu_fallback"})
BUILTIN_SLOTS = frozenset({"requested_slot", "session_started_metadata"})

DOMAIN_SECTIONS = ("intents", "entities", "slots", "forms", "actions", "responses")

# A payload message: `/intent` or `/intent{"entity": "value"}`.
_PAYLOAD = re.compile(r"^/(?P<intent>[^{\s]+)(?P<entities>\{.*\})?$", re.DOTALL)


def read_yaml(text: str) -> Any:
    return YAML(typ="safe").load(text)


def read_files(paths: Iterable[Path]) -> list[tuple[str, Any]]:
    """``(file name relative to the project, parsed document)`` for each path."""
    return [(str(path.relative_to(ROOT)), read_yaml(path.read_text())) for path in paths]


@dataclass(frozen=True)
class Reference:
    """A name the domain uses inside a slot or a form, e.g. a mapping's ``entity``."""

    owner: str  # "slot training_name", "form status_form"
    kind: str  # entity, intent, not_intent, action, active_loop, requested_slot, ignored_intents
    name: str

    def __str__(self) -> str:
        return f"{self.owner}: {self.kind} {self.name}"


@dataclass(frozen=True)
class Domain:
    """The merged domain: every declared name, and the names its slots and forms use."""

    intents: frozenset[str]
    entities: frozenset[str]
    slots: frozenset[str]
    forms: Mapping[str, tuple[str, ...]]  # form -> required_slots
    actions: frozenset[str]
    responses: frozenset[str]
    references: tuple[Reference, ...]
    # (section, name) -> every source that declares it
    declarations: Mapping[tuple[str, str], tuple[str, ...]]

    def referenced(self, *kinds: str) -> dict[str, set[str]]:
        """Name -> the owners using it, for the references of these kinds."""
        found: dict[str, set[str]] = defaultdict(set)
        for ref in self.references:
            if ref.kind in kinds:
                found[ref.name].add(ref.owner)
        return dict(found)

    def custom_actions(self) -> frozenset[str]:
        """Actions the action server must run: all but Rasa's own and the responses."""
        return self.actions - BUILTIN_ACTIONS - self.responses

    def declared_twice(self) -> list[str]:
        return sorted(
            f"{section} {name}: {', '.join(sources)}"
            for (section, name), sources in self.declarations.items()
            if len(sources) > 1
        )


def _names(entries: Any) -> Iterator[str]:
    """Names of a list whose entries are strings or one-key dicts (``- name: {...}``)."""
    for entry in entries or ():
        if isinstance(entry, str):
            yield entry
        elif isinstance(entry, Mapping):
            yield from (str(key) for key in entry)
        else:
            raise TypeError(f"unexpected entry {entry!r}")


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(item) for item in value]


def _slot_references(slot: str, spec: Mapping[str, Any]) -> Iterator[Reference]:
    owner = f"slot {slot}"
    for mapping in spec.get("mappings") or ():
        for kind in ("entity", "intent", "not_intent", "action"):
            for name in _as_list(mapping.get(kind)):
                yield Reference(owner, kind, name)
        for condition in mapping.get("conditions") or ():
            for kind in ("active_loop", "requested_slot"):
                if condition.get(kind) is not None:
                    yield Reference(owner, kind, str(condition[kind]))


def _required_slots(spec: Mapping[str, Any] | None) -> tuple[str, ...]:
    # Rasa 3 lists them; Rasa 2 mapped each to its mappings (the keys are the slots).
    return tuple(str(slot) for slot in (spec or {}).get("required_slots") or ())


def parse_domain(documents: Iterable[tuple[str, Mapping[str, Any]]]) -> Domain:
    """Merge domain documents as Rasa merges a domain directory."""
    declared: dict[tuple[str, str], list[str]] = defaultdict(list)
    forms: dict[str, tuple[str, ...]] = {}
    references: list[Reference] = []
    for source, document in documents:
        document = document or {}
        for section in ("intents", "entities", "actions"):
            for name in _names(document.get(section)):
                declared[(section, name)].append(source)
        for slot, spec in (document.get("slots") or {}).items():
            declared[("slots", slot)].append(source)
            references.extend(_slot_references(slot, spec or {}))
        for form, spec in (document.get("forms") or {}).items():
            declared[("forms", form)].append(source)
            forms[form] = _required_slots(spec)
            for name in _as_list((spec or {}).get("ignored_intents")):
                references.append(Reference(f"form {form}", "ignored_intents", name))
        for response in document.get("responses") or {}:
            declared[("responses", response)].append(source)

    def section(name: str) -> frozenset[str]:
        return frozenset(key for (kind, key) in declared if kind == name)

    return Domain(
        intents=section("intents"),
        entities=section("entities"),
        slots=section("slots"),
        forms=forms,
        actions=section("actions"),
        responses=section("responses"),
        references=tuple(references),
        declarations={key: tuple(sources) for key, sources in declared.items()},
    )


def load_domain_documents(directory: Path = DOMAIN_DIR) -> list[tuple[str, Any]]:
    paths = sorted(directory.glob("*.yml"))
    if not paths:
        raise FileNotFoundError(f"no domain files in {directory}")
    return read_files(paths)


def load_domain(directory: Path = DOMAIN_DIR) -> Domain:
    return parse_domain(load_domain_documents(directory))


@dataclass
class StoryNames:
    """Names that rules, stories and NLU examples use."""

    intents: set[str] = field(default_factory=set)  # `intent:` steps and payload texts
    actions: set[str] = field(default_factory=set)  # `action:` steps (forms included)
    loops: set[str] = field(default_factory=set)  # `active_loop:` other than null
    slots: set[str] = field(default_factory=set)  # `slot_was_set:`
    entities: set[str] = field(default_factory=set)  # `entities:` of steps and payloads
    nlu_intents: set[str] = field(default_factory=set)  # `- intent:` of NLU examples

    def add_step(self, step: Any) -> None:
        """One step, or a `condition`/`or` list of them."""
        if isinstance(step, list):
            for item in step:
                self.add_step(item)
            return
        if not isinstance(step, Mapping):
            return
        if step.get("intent") is not None:
            self.intents.add(str(step["intent"]))
        if step.get("action") is not None:
            self.actions.add(str(step["action"]))
        if step.get("active_loop") is not None:
            self.loops.add(str(step["active_loop"]))
        self.slots.update(_names(step.get("slot_was_set")))
        self.entities.update(_names(step.get("entities")))
        if isinstance(step.get("user"), str):
            self.add_payload(step["user"].strip())
        for nested in ("or", "condition", "steps"):
            if nested in step:
                self.add_step(step[nested])

    def add_payload(self, text: str) -> None:
        match = _PAYLOAD.match(text)
        if match is None:
            return
        self.intents.add(match["intent"])
        if match["entities"]:
            self.entities.update(json.loads(match["entities"]))


def parse_stories(documents: Iterable[tuple[str, Mapping[str, Any]]]) -> StoryNames:
    names = StoryNames()
    for _source, document in documents:
        document = document or {}
        for section in ("rules", "stories"):
            for entry in document.get(section) or ():
                names.add_step(entry.get("condition"))
                names.add_step(entry.get("steps"))
        for entry in document.get("nlu") or ():
            if entry.get("intent") is not None:
                names.nlu_intents.add(str(entry["intent"]))
    return names


def load_stories() -> StoryNames:
    """Rules, stories and NLU examples of ``nlu/data`` and the test stories."""
    return parse_stories(read_files([*sorted(DATA_DIR.glob("*.yml")), TEST_STORIES]))


def load_heldout_intents() -> set[str]:
    """Intents of the held-out NLU evaluation set."""
    return parse_stories(read_files(sorted(HELDOUT_DIR.glob("*.yml")))).nlu_intents


def config_actions(config: Mapping[str, Any]) -> set[str]:
    """Actions the policies name, e.g. RulePolicy's ``core_fallback_action_name``."""
    return {
        str(value)
        for policy in config.get("policies") or ()
        for key, value in policy.items()
        if key.endswith("_action_name") and value is not None
    }


def load_config_actions() -> set[str]:
    return config_actions(read_yaml(CONFIG.read_text()))
