"""A trigram index for the admin's search by title, on PostgreSQL only.

The admin searches titles with `icontains` (`UPPER(title) LIKE UPPER('%word%')`),
which no B-tree can serve: at a million tasks that was a 400 ms scan. pg_trgm's GIN
index on UPPER(title) answers it from the index. pg_trgm ships with PostgreSQL and is
a trusted extension, so the database's owner may create it. SQLite has no such index
and scans, which is fine at its sizes. Not in Task.Meta.indexes: Django's GinIndex
would not migrate on SQLite.
"""

from django.db import migrations

INDEX = "task_title_trgm_idx"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON tasks_app_task "
        "USING gin (UPPER(title) gin_trgm_ops)"
    )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("tasks_app", "0001_initial")]

    operations = [migrations.RunPython(create_index, drop_index)]
