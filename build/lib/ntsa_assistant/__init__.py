"""Domain and storage of the e-Citizen migration assistant.

This package holds the rules (records, timeline, verification, training registrations)
and their storage. It imports neither Telegram nor Rasa: the gateway (``bot``) and the
action server (``actions``) both build on it.
"""
