"""Handing a conversation to a human agent on Telegram, and back.

``desk`` keeps the state (handoffs, each person's desk topic, what waits to be sent into a
desk group); ``hours`` says when agents work (Kenyan public holidays included); ``texts``
and ``card`` are every sentence the person and the agents read. The gateway (``bot/desk``)
does the Telegram side.
"""
