"""Phrases end-to-end tests send to find how the trained model behaves."""

from __future__ import annotations

# Nonsense in no language: tests keep those the model lets fall back (nlu_fallback), since
# which ones do changes with each model.
GIBBERISH = (
    "blorp zzkx qwimble",
    "blorp zzkx qwimble plonk",
    "qwx vvbn plk",
    "zzzt frumple gax",
    "mnbv lkjh poiu",
    "grob fnord sniggle",
    "xylo prrt quabble",
    "fghj rtyu vbnm",
    "zorg blat",
    "gnarp vlem",
    "wug snarf tib",
    "xq xq xq",
)
