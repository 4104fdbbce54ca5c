"""django-q2's Redis broker (Q_CLUSTER_REDIS), patient with an unreachable server.

django-q2's own checks the server once as the cluster starts and raises (the
cluster dies with a traceback), and its queue reader logs a traceback and restarts
every ten seconds while the server is away. This one logs one line when Redis
becomes unreachable, keeps retrying every RETRY_EVERY seconds, and one line when it
is back: nothing is lost meanwhile (the schedule fires again on the next scheduler
pass, and the reminders' claims live in the database).

The cluster's statistics stay in the database cache (Q_CLUSTER["cache"]), as with the
ORM broker, so `qinfo` and the admin's Send now see the clusters whether or not
Redis answers.
"""

import logging
import time

import redis
from django_q.brokers import Broker
from django_q.brokers.redis_broker import Redis
from django_q.conf import Conf

logger = logging.getLogger(__name__)

RETRY_EVERY = 5  # seconds between attempts while Redis is unreachable
# Seconds a connection attempt, and any one command, may take: a server that stopped
# answering fails the health check and Send now in seconds, not in minutes. Above the
# queue reader's wait for a task (1 s). Options in the URL win.
CONNECT_TIMEOUT, COMMAND_TIMEOUT = 5, 10


class PatientRedis(Redis):
    unreachable = False  # per process: each logs its own outage once

    @staticmethod
    def get_connection(list_key: str = None) -> redis.Redis:
        return redis.from_url(
            Conf.REDIS, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=COMMAND_TIMEOUT
        )

    def ping(self) -> bool:
        """At cluster start: start anyway; the queue reader says Redis is away."""
        try:
            return self.connection.ping()
        except redis.RedisError:
            return False

    def dequeue(self):
        try:
            return self._answered(super().dequeue())
        except redis.RedisError as exc:
            self._lost(exc)
            time.sleep(RETRY_EVERY)
            return None

    def _answered(self, result):
        if PatientRedis.unreachable:
            PatientRedis.unreachable = False
            logger.warning("redis_reachable", extra={"event": "redis_reachable", **self._where()})
        return result

    def _lost(self, exc: Exception) -> None:
        if not PatientRedis.unreachable:
            PatientRedis.unreachable = True
            logger.error(
                "redis_unreachable",
                extra={
                    "event": "redis_unreachable",
                    "error": type(exc).__name__,
                    "retry_seconds": RETRY_EVERY,
                    **self._where(),
                },
            )

    def _where(self) -> dict:
        """The server's address, never its password."""
        kwargs = self.connection.connection_pool.connection_kwargs
        return {"redis": f"{kwargs.get('host', kwargs.get('path', '?'))}:{kwargs.get('port', '')}"}

    # Statistics in the database cache, as the ORM broker keeps them.
    set_stat = Broker.set_stat
    get_stat = Broker.get_stat
    get_stats = Broker.get_stats
