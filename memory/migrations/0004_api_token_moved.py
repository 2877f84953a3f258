"""The API token model now belongs to conversations (its migration 0007 took the table over)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('memory', '0003_conversation_extraction'),
        ('conversations', '0007_api_token'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name='ApiToken')]),
    ]
