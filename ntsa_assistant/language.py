"""Which language to answer in: the message's own, else the remembered choice.

Detection uses lingua (its models ship in the wheel) restricted to English and Swahili.
Code-mixed messages (Sheng) count as Kiswahili as soon as they carry clear Kiswahili.
"""

from __future__ import annotations

from functools import cache

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

from ntsa_assistant.i18n import DEFAULT_LANGUAGE, Lang, normalise_language

_MIN_CONFIDENCE = 0.70


@cache
def _detector() -> LanguageDetector:
    return (
        LanguageDetectorBuilder.from_languages(Language.ENGLISH, Language.SWAHILI)
        .with_preloaded_language_models()
        .build()
    )


def detect(text: str) -> Lang | None:
    """``"en"`` or ``"sw"`` when the text is clearly one of them, else ``None``."""
    words = [w for w in text.split() if any(ch.isalpha() for ch in w)]
    if len(words) < 2:
        return None
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


def warm_up() -> None:
    """Loads the models once at start-up so the first user does not wait for it."""
    _detector()
