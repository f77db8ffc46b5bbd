"""The Telegram side: handlers, keyboards, texts and the views services report through.

The only package that imports python-telegram-bot.
"""
