"""Where RabbitMQ's management API is looked for, and which virtual host an AMQP URL names."""

from __future__ import annotations

import pytest

from actors.config.settings import Settings
from actors.config.urls import rabbitmq_management_url, rabbitmq_vhost


@pytest.mark.parametrize(
    ("amqp_url", "configured", "expected"),
    [
        ("amqp://guest:guest@127.0.0.1:5672/", None, "http://guest:guest@127.0.0.1:15672/"),
        ("amqp://u:p%40ss@rabbit/prod", "", "http://u:p%40ss@rabbit:15672/"),
        ("amqps://u:p@rabbit:5671/", None, "https://u:p@rabbit:15671/"),
        ("amqp://rabbit/", None, "http://rabbit:15672/"),
        ("amqp://u:p@[::1]:5672/", None, "http://u:p@[::1]:15672/"),
        # A URL without credentials gets the AMQP URL's; one with its own keeps them.
        ("amqp://u:p@rabbit:5672/", "http://rabbitmq:15672/", "http://u:p@rabbitmq:15672/"),
        ("amqp://u:p@rabbit/", "https://a:b@proxy/rabbit/", "https://a:b@proxy/rabbit/"),
        ("amqp://rabbit/", "http://mgmt:15672/", "http://mgmt:15672/"),
    ],
)
def test_the_management_url_defaults_to_the_amqp_host_on_15672_with_its_credentials(
    amqp_url: str, configured: str | None, expected: str
) -> None:
    assert rabbitmq_management_url(amqp_url, configured) == expected


@pytest.mark.parametrize(
    ("amqp_url", "vhost"),
    [
        ("amqp://guest:guest@127.0.0.1:5672/", "/"),
        ("amqp://127.0.0.1", "/"),
        ("amqp://127.0.0.1/%2F", "/"),
        ("amqp://127.0.0.1/staging", "staging"),
        ("amqp://127.0.0.1/a%2Fb", "a/b"),
    ],
)
def test_the_vhost_is_the_amqp_urls_path(amqp_url: str, vhost: str) -> None:
    assert rabbitmq_vhost(amqp_url) == vhost


def test_settings_take_the_management_url_from_the_environment_or_turn_it_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RABBITMQ_URL", "amqp://obs:secret@rabbitmq:5672/")
    monkeypatch.delenv("OBSERVATORY_RABBITMQ_MANAGEMENT_URL", raising=False)
    assert Settings.from_env().management_url == "http://obs:secret@rabbitmq:15672/"

    monkeypatch.setenv("OBSERVATORY_RABBITMQ_MANAGEMENT_URL", "http://rabbitmq-admin:8080/")
    assert Settings.from_env().management_url == "http://obs:secret@rabbitmq-admin:8080/"

    monkeypatch.setenv("OBSERVATORY_RABBITMQ_MANAGEMENT_URL", "off")
    assert Settings.from_env().management_url is None
    assert Settings.from_env(rabbitmq_management_url="OFF").management_url is None
