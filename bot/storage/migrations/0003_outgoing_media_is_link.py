from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_outgoing_media_url')]

    initial = False

    operations = [
        ops.AddField(
            model_name='OutgoingMessage',
            name='media_is_link',
            field=fields.BooleanField(default=False, db_default=False),
        ),
    ]
