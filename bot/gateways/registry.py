"""Build the enabled gateway drivers from the settings (one HTTP client each)."""

from __future__ import annotations

from bot.config import Settings
from bot.gateways.base import Gateway
from bot.gateways.http import GatewayHttp
from bot.gateways.wappim import WappimGateway
from bot.logs import secrets


class GatewayConfigError(Exception):
    """An enabled gateway lacks what it needs; the message names the setting."""


def build_gateways(settings: Settings) -> dict[str, Gateway]:
    gateways: dict[str, Gateway] = {}
    for name in settings.gateways:
        gateways[name] = _build(name, settings)
    return gateways


def _build(name: str, settings: Settings) -> Gateway:
    if name == "wappim":
        token = settings.wapp_token.get_secret_value()
        secrets.add(token)
        http = GatewayHttp(
            settings.wapp_api_url, name="wapp.im", headers={"X-Tasktest-Token": token}
        )
        return WappimGateway(http, crm=settings.wapp_crm, domain=settings.wapp_domain)
    raise GatewayConfigError(f"GATEWAYS: {name} is not available yet")
