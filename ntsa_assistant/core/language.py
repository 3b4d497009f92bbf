"""Which language to answer in: the message's own, else the remembered choice.

Two signals decide, in this order:

1. Marker words. Kenyan users mix Kiswahili, Sheng and English in one sentence ("Niaje,
   TIMS inaclose lini?"), which statistical detectors read as English. So a message counts
   as Kiswahili as soon as it carries clear Kiswahili: two marker words or Kiswahili verb
   affixes on English stems ("ku-validate", "inaclose"), or one of them in a message with
   at most one English function word.
2. lingua (its models ship in the wheel), restricted to English and Swahili, for messages
   the markers leave open.

Everything here is a pure function of the text.
"""

from __future__ import annotations

import re
from functools import cache

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

from ntsa_assistant.core.i18n import DEFAULT_LANGUAGE, Lang, normalise_language

_MIN_CONFIDENCE = 0.70
_MIN_WORDS_FOR_STATISTICS = 3

# Frequent Kiswahili and Sheng words that are not English words.
_SW_MARKER_WORDS = """
    na ya wa za la kwa ni je lini gani nini nani wapi vipi aje ngapi kwani mbona kama
    lakini bado tu pia hadi mpaka bila au ama ndio ndiyo hapana sio si sijui sina nina
    una ana tuna mna wana hii hiyo hizi hizo huu hiyo hapa huko kule sasa leo kesho jana
    wiki mwezi saa tarehe siku mimi wewe yeye sisi nyinyi wao yangu yako yake yetu yenu
    yao wangu wako wake zangu zako zetu langu lako letu kwangu kwetu mimi
    nataka naomba nisaidie tafadhali saidia nisaidieni naweza unaweza tunaweza inawezekana
    asante asanteni shukran sawa poa fiti safi habari mambo niaje sasa vipi hujambo
    sijambo salama karibu kwaheri baadaye usiku asubuhi mchana jioni
    akaunti kampuni shirika mafunzo maombi ombi malipo kulipa bure pesa gari magari
    pikipiki leseni mtandao mtandaoni huduma nenosiri serikali wizara ofisi
    msee manze buda maze bana sana kitu vitu kuna iko ziko kuko hakuna hamna imefungwa
    itafungwa inafungwa kufungwa inafunguliwa kufunguliwa itafunguliwa fungua funga
    nifanye nifanyeje tufanye ufanye kufanya nini ninii ebu hebu wacha ngoja
"""
_SW_MARKERS = frozenset(_SW_MARKER_WORDS.split())

# Kiswahili verb prefixes on an English (or Kiswahili) stem: ku-validate, inaclose,
# imeclose, nime-register, tutalink... The stem must be long enough that English words
# such as "kudos" or "item" do not match; "una-"/"ana-" are left out ("unable", "analysis").
_SW_AFFIX = re.compile(
    r"^(?:ku|ina|ime|ita|ata|nita|nime|tuna|tume|tuta|wame|wata|zime|sija|haija|hai|"
    r"mna|ume|uta|ni)-[a-z]{3,}$"
    r"|^(?:ku|ina|ime|ita|nita|nime|tuna|tume|tuta|wame|wata|zime|sija|haija|uta)"
    r"(?:validate|link|close|open|login|log|register|apply|pay|update|change|reset|"
    r"migrate|check|submit|transact|sign|verify|add|upload|book|renew|transfer|"
    r"access|use|create|complete|finish|join|attend|call|help)[a-z]*$"
)

# English function words: enough to tell an English sentence from a mixed one.
_EN_MARKER_WORDS = """
    the a an is are was were be been will would can could should do does did have has
    had i you we they he she it my your our their me us him her what when where why how
    which who whom whose this that these those there here of to for from with without
    about on in at by after before until please thanks thank hello hi hey yes no not
    and or but if so just also still yet any some all every each
"""
_EN_MARKERS = frozenset(_EN_MARKER_WORDS.split())

_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*", re.UNICODE)


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


@cache
def _detector() -> LanguageDetector:
    return (
        LanguageDetectorBuilder.from_languages(Language.ENGLISH, Language.SWAHILI)
        .with_preloaded_language_models()
        .build()
    )


def _is_swahili_word(word: str) -> bool:
    return word in _SW_MARKERS or bool(_SW_AFFIX.match(word))


def marker_language(text: str) -> Lang | None:
    """The language the marker words point to, or None when they leave it open."""
    words = _words(text)
    swahili = sum(1 for w in words if _is_swahili_word(w))
    english = sum(1 for w in words if w in _EN_MARKERS)
    if swahili >= 2 and swahili * 2 >= english:
        return "sw"
    if swahili == 1 and english <= 1:
        return "sw"
    if english >= 2 and swahili == 0:
        return "en"
    return None


def detect(text: str) -> Lang | None:
    """``"en"`` or ``"sw"`` when the text is clearly one of them, else ``None``."""
    by_markers = marker_language(text)
    if by_markers:
        return by_markers
    words = [w for w in text.split() if any(ch.isalpha() for ch in w)]
    if len(words) < _MIN_WORDS_FOR_STATISTICS:
        # Too short for statistics: lingua calls gibberish such as "plmk zzq" Swahili.
        english = [w for w in _words(text) if w in _EN_MARKERS]
        return "en" if len(words) == 1 and english else None
    confidences = {
        c.language: c.value for c in _detector().compute_language_confidence_values(text)
    }
    if confidences.get(Language.SWAHILI, 0.0) >= _MIN_CONFIDENCE:
        return "sw"
    if confidences.get(Language.ENGLISH, 0.0) >= _MIN_CONFIDENCE:
        return "en"
    return None


def choose_language(text: str | None, remembered: str | None) -> Lang:
    """The message's language if clear, else the remembered one, else English."""
    detected = detect(text) if text else None
    if detected:
        return detected
    return normalise_language(remembered) if remembered else DEFAULT_LANGUAGE


_ASKS_FOR: dict[Lang, frozenset[str]] = {
    "sw": frozenset({"kiswahili", "swahili", "kiswahiri", "swahli", "kisw"}),
    "en": frozenset({"english", "kiingereza", "kingereza", "engl", "eng", "inglish"}),
}


def requested_language(text: str | None) -> Lang | None:
    """The language a message such as "speak Kiswahili" or "naomba English" asks for.

    None when it names neither or both.
    """
    words = set(_words(text or ""))
    named = [lang for lang, names in _ASKS_FOR.items() if words & names]
    return named[0] if len(named) == 1 else None


def warm_up() -> None:
    """Loads the models once at start-up so the first user does not wait for it."""
    _detector()
