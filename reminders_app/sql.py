"""What the hand-built statements of selection and claims share: names quoted from
the models' metadata, conditions compiled from the ORM's own definitions, and
Django's positional placeholders renamed so that statements can be joined."""

import re
from collections.abc import Sequence

from django.db import connection
from django.db.models import Q


def quoted_columns(model) -> tuple[str, dict[str, str]]:
    """The model's quoted table name and its quoted column names by attribute name."""
    quote = connection.ops.quote_name
    return quote(model._meta.db_table), {
        field.attname: quote(field.column) for field in model._meta.concrete_fields
    }


def compiled_where(model, condition: Q) -> tuple[str, Sequence]:
    """`condition` over `model`, compiled to SQL over the model's own table name: the
    ORM's definition, not a copy of it."""
    query = model._default_manager.filter(condition).query
    return query.get_compiler(connection=connection).compile(query.where)


_PLACEHOLDER = re.compile(r"(?<!%)%s")


def named(sql: str, params: Sequence, *, prefix: str) -> tuple[str, dict]:
    """Django's compiled SQL with its positional %s placeholders renamed
    %(prefix0)s, %(prefix1)s, ... so it can join a statement with named ones."""
    names = iter(range(len(params)))
    renamed = _PLACEHOLDER.sub(lambda _: f"%({prefix}{next(names)})s", sql)
    return renamed, {f"{prefix}{i}": value for i, value in enumerate(params)}


def db_datetime(value):
    """A datetime as the database takes it in a hand-built statement (SQLite: text)."""
    return connection.ops.adapt_datetimefield_value(value)
