"""Build the enabled gateway drivers from the settings (one HTTP client each).

An enabled gateway that lacks what it needs (ITD without ITD_TOKEN, whinmovilla without
WHIN_TOKEN) stops the bot at start with a one-line explanation naming the setting.
"""

from __future__ import annotations

from bot.config import Settings
from bot.gateways.base import Gateway
from bot.gateways.greenapi import GreenApiGateway
from bot.gateways.hci import HciClient, HciGateway
from bot.gateways.http import GatewayHttp
from bot.gateways.itd import ItdGateway
from bot.gateways.wappim import WappimGateway
from bot.gateways.whinmovilla import WhinmovillaGateway
from bot.logs import secrets


class GatewayConfigError(Exception):
    """An enabled gateway lacks what it needs; the message names the setting."""


def build_gateways(settings: Settings) -> dict[str, Gateway]:
    gateways: dict[str, Gateway] = {name: _build(name, settings) for name in settings.gateways}
    if settings.hci_api_url:  # HCI needs no entry in GATEWAYS: its URL turns it on
        gateways["hci"] = HciGateway(
            HciClient(
                settings.hci_api_url,
                _secret(settings.hci_token),
                auth_header=settings.hci_auth_header,
                manager_number=_setting(settings.hci_manager_number, "HCI_MANAGER_NUMBER"),
                controller_port=_setting(settings.hci_controller_port, "HCI_CONTROLLER_PORT"),
                breaker_seconds=settings.gateway_breaker_seconds,
            )
        )
    return gateways


def _setting(value: str | None, name: str) -> str:
    if not value:
        raise GatewayConfigError(f"{name} is empty, but HCI_API_URL turns HCI on: set it in .env")
    return value


def _build(name: str, settings: Settings) -> Gateway:
    if name == "wappim":
        token = settings.wapp_token.get_secret_value()
        secrets.add(token)
        http = GatewayHttp(
            settings.wapp_api_url,
            name="wapp.im",
            headers={"X-Tasktest-Token": token},
            breaker_cooldown=settings.gateway_breaker_seconds,
        )
        return WappimGateway(http, crm=settings.wapp_crm, domain=settings.wapp_domain)
    if name == "greenapi":
        return GreenApiGateway(
            settings.green_api_url, breaker_seconds=settings.gateway_breaker_seconds
        )
    if name == "itd":
        return ItdGateway(
            settings.itd_api_url,
            _required(settings.itd_token, "ITD_TOKEN", name),
            auth_header=settings.itd_auth_header,
            breaker_seconds=settings.gateway_breaker_seconds,
        )
    if name == "whinmovilla":
        return WhinmovillaGateway(
            settings.whin_api_url,
            _required(settings.whin_token, "WHIN_TOKEN", name),
            breaker_seconds=settings.gateway_breaker_seconds,
        )
    raise GatewayConfigError(f"GATEWAYS: unknown gateway {name}")


def _secret(value: object) -> str:
    if value is not None and hasattr(value, "get_secret_value"):
        return str(value.get_secret_value())
    return ""


def _required(value: object, setting: str, gateway: str) -> str:
    secret = _secret(value)
    if not secret:
        raise GatewayConfigError(
            f"{setting} is empty, but GATEWAYS enables {gateway}: set it in .env"
        )
    secrets.add(secret)
    return str(secret)
