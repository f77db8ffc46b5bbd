"""HTTP fakes the test-suite owns: a Telegram Bot API server and one emulator per WhatsApp gateway.

Each fake is a real aiohttp server on 127.0.0.1 running in its own thread (see `server.py`), so the
bot under test (in-process or a `python -m bot` subprocess) talks plain HTTP to it, and a busy bot
event loop can never stall the fake.
"""
