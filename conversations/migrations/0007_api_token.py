"""The API token model moves from memory to conversations: both HTTP APIs (memory, knowledge) use it.

The table is kept (state only), then renamed to this app's name; tokens already issued still work.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('conversations', '0006_message_deliveries'),
        ('memory', '0003_conversation_extraction'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ApiToken',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=100, unique=True)),
                        ('token_hash', models.CharField(editable=False, max_length=64, unique=True)),
                        ('prefix', models.CharField(editable=False, help_text="The token's first characters.", max_length=12)),
                        ('active', models.BooleanField(default=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('last_used_at', models.DateTimeField(blank=True, editable=False, null=True)),
                    ],
                    options={'verbose_name': 'API token', 'db_table': 'memory_apitoken'},
                ),
            ],
        ),
        migrations.AlterModelTable(name='apitoken', table=None),
    ]
