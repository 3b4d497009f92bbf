"""The operators' report: what the assistant did, from the activity record.

:mod:`~ntsa_assistant.reporting.activity` writes the record (the features call it, so it
imports no feature); the other modules read it: :mod:`~ntsa_assistant.reporting.metrics`
(pure functions over events), :mod:`~ntsa_assistant.reporting.report` (every figure of a
period, from what the database holds), :mod:`~ntsa_assistant.reporting.render` (terminal
and HTML, with :mod:`~ntsa_assistant.reporting.charts`),
:mod:`~ntsa_assistant.reporting.unanswered` (what it missed, grouped, and the NLU draft)
and :mod:`~ntsa_assistant.reporting.retention`.
This module imports none of them, so a feature importing the recorder pulls in nothing else.
"""
