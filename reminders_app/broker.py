"""The django-q2 broker the cluster takes its tasks from (the schedule's runs, Send
now's): its name as people read it, and whether it answers. Never its address: a
broker's URL may hold a password."""

from django_q.brokers import get_broker
from django_q.conf import Conf


def broker_name() -> str:
    """ "the Redis broker", "the ORM broker (database 'default')"..."""
    if Conf.REDIS or Conf.DJANGO_REDIS:
        return "the Redis broker"
    if Conf.ORM:
        return f"the ORM broker (database {Conf.ORM!r})"
    for kind, name in [(Conf.SQS, "SQS"), (Conf.MONGO, "MongoDB"), (Conf.IRON_MQ, "IronMQ")]:
        if kind:
            return f"the {name} broker"
    return f"the broker {Conf.BROKER_CLASS or 'django-q2 uses'}"


def broker_problem() -> str | None:
    """None when the broker answers (it counts its queue); else one sentence naming
    it and the error's class."""
    try:
        broker = get_broker()
        try:
            broker.queue_size()
        finally:
            if hasattr(broker.connection, "close"):  # a Redis client's connections
                broker.connection.close()
    except Exception as exc:  # noqa: BLE001 - each broker's client raises its own errors
        return (
            f"{broker_name()} cannot be reached ({type(exc).__name__}): scheduled runs and "
            "Send now wait until it answers"
        )
    return None


def unreachable(exc: Exception) -> str:
    """What Send now says when the broker failed it."""
    return (
        f"{broker_name()} could not be reached ({type(exc).__name__}), so nothing was "
        "queued. Try again once it answers, or run `python manage.py send_reminders` "
        "on the server."
    )
