from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_outgoing_media_is_link')]

    initial = False

    operations = [
        ops.AddField(
            model_name='User',
            name='awaiting_credentials',
            field=fields.CharField(null=True, max_length=32),
        ),
    ]
