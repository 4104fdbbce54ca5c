"""gunicorn serves the site in production mode, static files included, as `make serve` does.

A real gunicorn process with production settings (debug off, a strong key) on a
scratch database (tests/gunicorn.py); only the HTTPS redirect is off, so plain HTTP on
localhost reaches the pages.
"""

import gzip
import json
import re
import urllib.request
from http.cookiejar import CookieJar
from urllib.parse import urlencode

import pytest

from tests.gunicorn import gunicorn, prepare, production_env, scratch_database

PASSWORD = "a-long-admin-password-1"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """collectstatic, migrate and a superuser, then gunicorn on a free port."""
    tmp = tmp_path_factory.mktemp("serve")
    with scratch_database(tmp, "serve") as url:
        env = production_env(tmp, DATABASE_URL=url, DJANGO_SUPERUSER_PASSWORD=PASSWORD)
        prepare(
            env,
            ["collectstatic", "--no-input", "-v0"],
            ["migrate", "--no-input", "-v0"],
            ["createsuperuser", "--no-input", "--username", "root", "--email", "root@x.example"],
        )
        with gunicorn(env, tmp / "gunicorn.log") as address:
            yield address, tmp / "static"


def fetch(url, headers=None, opener=None, data=None):
    request = urllib.request.Request(url, headers=headers or {}, data=data)
    return (opener or urllib.request.build_opener()).open(request, timeout=30)


def test_the_login_page_is_served_with_its_hashed_stylesheet(site):
    address, static_root = site
    hashed = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    css = hashed["admin/css/base.css"]
    assert css != "admin/css/base.css"

    with fetch(f"{address}/admin/login/") as response:
        page = response.read().decode()

    assert response.status == 200
    assert f"/static/{css}" in page
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_static_file_is_served_under_its_hashed_name_and_gzipped_on_request(site):
    address, static_root = site
    css = json.loads((static_root / "staticfiles.json").read_text())["paths"]["admin/css/base.css"]
    original = (static_root / css).read_bytes()

    with fetch(f"{address}/static/{css}") as plain:
        assert plain.status == 200
        assert plain.read() == original
        assert "immutable" in plain.headers["Cache-Control"]
    with fetch(f"{address}/static/{css}", {"Accept-Encoding": "gzip"}) as compressed:
        assert compressed.status == 200
        assert compressed.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(compressed.read()) == original


def test_an_administrator_logs_in(site):
    address, _ = site
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    with fetch(f"{address}/admin/login/", opener=opener) as page:
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode())

    form = {"username": "root", "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)}
    with fetch(
        f"{address}/admin/login/?next=/admin/", opener=opener, data=urlencode(form).encode()
    ) as response:
        home = response.read().decode()

    assert response.url == f"{address}/admin/"
    assert "Log out" in home
