"""The client address that login lockout (django-axes) counts failures against."""

import ipaddress

from django.conf import settings


def client_ip(request) -> str | None:
    """REMOTE_ADDR, unless proxies in front are trusted (DJANGO_SECURE_PROXY_SSL_HEADER).

    Each of the DJANGO_TRUSTED_PROXIES proxies appends the address it received the
    request from to X-Forwarded-For, so the client's address is that many entries from
    the end: the last one behind one proxy, the one before it behind two. Entries
    before it are whatever the client sent and are never believed. An entry that is
    missing or not an IP address (a proxy configured otherwise, a port appended)
    leaves the connection's own address: a client cannot make it a server error.
    """
    remote = _address(request.META.get("REMOTE_ADDR", ""))
    proxies = settings.TRUSTED_PROXIES
    if settings.SECURE_PROXY_SSL_HEADER and proxies:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if len(forwarded) >= proxies:
            return _address(forwarded[-proxies]) or remote
    return remote


def _address(text: str) -> str | None:
    """`text` as a canonical IP address, or None when it is not one."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # A zone (fe80::1%eth0) names an interface of the proxy's host, and the
    # database's address column refuses it.
    return None if getattr(address, "scope_id", None) else str(address)
