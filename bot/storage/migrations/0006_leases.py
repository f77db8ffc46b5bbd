from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0005_two_way')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Lease',
            fields=[
                ('key', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=128)),
                ('holder', fields.CharField(max_length=64)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'lease', 'app': 'models', 'pk_attr': 'key', 'table_description': "A replica's claim on a job that must run once across replicas (the link check, the one"},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='OutgoingMessage',
            name='lease_holder',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='OutgoingMessage',
            name='lease_until',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='User',
            name='connect_started_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='WhatsAppChat',
            name='lease_holder',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='WhatsAppChat',
            name='lease_until',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
