from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    """The rate limits' cache table, where the settings keep that cache in the database (PostgreSQL)."""
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("tasks_app", "0008_permissions")]
    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
