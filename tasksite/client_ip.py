"""The client address that login lockout (django-axes) counts failures against."""

from django.conf import settings


def client_ip(request) -> str | None:
    """REMOTE_ADDR, unless a proxy in front is trusted (DJANGO_SECURE_PROXY_SSL_HEADER).

    Behind one trusted proxy every request comes from the proxy's own address, so the
    client's is the last entry of X-Forwarded-For: the one the proxy appended. Entries
    before it are whatever the client sent and are never believed.
    """
    if settings.SECURE_PROXY_SSL_HEADER:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        if forwarded:
            return forwarded
    return request.META.get("REMOTE_ADDR")
