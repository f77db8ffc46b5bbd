"""WhatsApp in your pocket: a Telegram bot in front of WhatsApp gateway HTTP APIs.

Layers (data flows down, results come back up):
    bot.telegram  – python-telegram-bot handlers, keyboards, texts (the only package importing telegram)
    bot.services  – the domain: connect flow, outbox/sender, chat registry (no Telegram, no HTTP)
    bot.gateways  – one interface over every WhatsApp gateway HTTP API (wapp.im first)
    bot.storage   – Tortoise ORM models and database start-up/migrations
    bot.app       – wiring only; bot.__main__ starts it (`python -m bot`)
"""
