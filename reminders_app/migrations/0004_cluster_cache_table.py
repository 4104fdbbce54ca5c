"""Create the database cache table the django-q2 cluster keeps its statistics in.

settings.CACHES["django_q"] is a DatabaseCache, so `qmonitor` and `qinfo`, which
run in other processes than the cluster, can read them. Creating the table here
makes `migrate` the only deploy step; createcachetable skips tables that exist.
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_tables(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("reminders_app", "0003_reminder_viewers_group")]

    operations = [migrations.RunPython(create_cache_tables, migrations.RunPython.noop)]
