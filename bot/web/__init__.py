"""The bot's HTTP server (on when HTTP_PORT is set): Starlette routes served by uvicorn in the
bot's own event loop. Gateways that push (ITD) call its hooks; gateways that fetch files by URL
get them here.

    server.py  the server's life cycle (bind, serve, stop)
    hooks.py   POST /hooks/<gateway>/<HOOK_SECRET>/<hook>: a gateway's push, into the inbox
    media.py   GET /media/<token>/<name>: a file the bot serves for an hour
"""
