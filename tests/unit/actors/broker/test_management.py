"""Reading RabbitMQ's management API: a queue listing's entries, the client's URL.

Asking the real API (answers, 401, 404, no answer): ``tests/integration/test_queues_management.py``.
"""

from __future__ import annotations

import pytest

from actors.broker.management import QueueFigures, RabbitMqManagement


def test_an_entry_with_its_statistics_gives_counts_and_rabbitmqs_rates() -> None:
    figures = QueueFigures.from_json(
        {
            "name": "ns.jobs.created",
            "messages_ready": 7,
            "messages_unacknowledged": 2,
            "consumers": 1,
            "message_stats": {
                "publish": 40,
                "publish_details": {"rate": 3.14159},
                "deliver_get": 31,
                "deliver_get_details": {"rate": 0.2},
            },
        }
    )

    assert figures == QueueFigures("ns.jobs.created", 7, 2, 1, 3.142, 0.2)
    assert figures.complete


def test_a_queue_that_never_had_a_message_has_rates_of_zero() -> None:
    figures = QueueFigures.from_json(
        {
            "name": "jobs.retry.30s",
            "messages_ready": 0,
            "messages_unacknowledged": 0,
            "consumers": 0,
        }
    )

    assert (figures.publish_per_s, figures.deliver_per_s) == (0.0, 0.0)


def test_counts_without_rate_details_mean_rabbitmq_keeps_no_rates() -> None:
    figures = QueueFigures.from_json(
        {
            "name": "jobs.created",
            "messages_ready": 1,
            "messages_unacknowledged": 0,
            "consumers": 0,
            "message_stats": {"publish": 5, "deliver_get_details": {"rate": 1.5}},
        }
    )

    assert (figures.publish_per_s, figures.deliver_per_s) == (None, 1.5)


def test_a_queue_declared_since_the_last_statistics_is_not_complete() -> None:
    figures = QueueFigures.from_json({"name": "jobs.created"})

    assert not figures.complete
    assert figures == QueueFigures("jobs.created", None, None, None, None, None)


def test_an_entry_without_a_name_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^a queue entry without a name: \{'consumers': 1\}$"):
        QueueFigures.from_json({"consumers": 1})


def test_the_client_shows_its_url_without_the_password() -> None:
    management = RabbitMqManagement("http://obs:s3cret@rabbitmq:15672/", "staging")

    assert management.url == "http://obs:***@rabbitmq:15672/"
    assert "s3cret" not in repr(management)
    assert management.vhost == "staging"


def test_the_client_refuses_a_url_that_is_not_http() -> None:
    with pytest.raises(
        ValueError,
        match=r"^RabbitMQ's management API URL 'amqp://u:\*\*\*@rabbit:5672/' is not an "
        r"http\(s\) URL\.$",
    ):
        RabbitMqManagement("amqp://u:pw@rabbit:5672/")
