"""GET /media/<token>/<name>: a file the bot serves for a gateway that fetches files by URL.
Unknown or expired tokens are 404; the name in the path is only for the gateway's eyes."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.services.media_links import MediaLinks


def media_routes(links: MediaLinks) -> list[Route]:
    async def media(request: Request) -> Response:
        link = await links.get(str(request.path_params["token"]))
        if link is None:
            return PlainTextResponse("Not Found", status_code=404)
        disposition = f"inline; filename*=UTF-8''{quote(link.name)}"
        return Response(
            bytes(link.data), media_type=link.mime, headers={"Content-Disposition": disposition}
        )

    return [Route("/media/{token}/{name}", media, methods=["GET", "HEAD"])]
