"""Telegram handlers, one module per feature; each feature's `register(app)` adds its handlers,
and `bot.app` lists the features in the order they are tried.

    common.py    the gate every update passes first, the error handler, shared helpers
    basics.py    /start, /help
    connect.py   /connect (gateway choice, credentials), /cancel, /code
    send.py      /send, /sendfile, /sendlink, a file captioned /send PHONE, "Send again"
    chats.py     /chats, /status, /disconnect, /sleep, /resume, /reboot, /mute, /unmute
    admin.py     /admin
    messages.py  everything else: answers to forwarded messages, credentials, hints (last)
"""
