from tortoise import migrations
from tortoise.migrations import operations as ops
from bot.storage.models import Origin
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0006_team_inbox')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Conversation',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='conversations', on_delete=OnDelete.CASCADE)),
                ('chat', fields.ForeignKeyField('models.WhatsAppChat', source_field='chat_id', db_constraint=True, to_field='id', related_name='conversations', on_delete=OnDelete.CASCADE)),
                ('peer', fields.CharField(max_length=64)),
                ('wa_name', fields.CharField(null=True, max_length=128)),
                ('name', fields.CharField(null=True, max_length=128)),
                ('topic_id', fields.BigIntField(null=True)),
                ('topic_title', fields.CharField(null=True, max_length=128)),
                ('topic_named_by_user', fields.BooleanField(default=False)),
                ('topic_claim_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('muted', fields.BooleanField(default=False)),
                ('opted_out', fields.BooleanField(default=False)),
                ('last_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'conversation', 'app': 'models', 'unique_together': (('user_id', 'chat_id', 'peer'),), 'indexes': [Index(fields=['user_id', 'topic_id']), Index(fields=['user_id', 'last_at'])], 'pk_attr': 'id', 'table_description': 'One WhatsApp contact or group on one line, as one Telegram user sees it: an entry of their'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='HciOperator',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.OneToOneField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='hci_operator', on_delete=OnDelete.CASCADE)),
                ('operator_id', fields.CharField(max_length=32)),
            ],
            options={'table': 'hci_operator', 'app': 'models', 'pk_attr': 'id', 'table_description': "An admin's mapping of a Telegram user to an HCI Whats Center operator, kept whatever the"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TelegramUpdate',
            fields=[
                ('update_id', fields.BigIntField(primary_key=True, generated=False, unique=True, db_index=True)),
                ('payload', fields.TextField(unique=False)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('handled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('lease_holder', fields.CharField(null=True, max_length=64)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'telegram_update', 'app': 'models', 'indexes': [Index(fields=['handled_at', 'lease_until'])], 'pk_attr': 'update_id', 'table_description': 'A Telegram update as it arrived (webhook push or getUpdates), stored before it is'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='OutgoingMessage',
            name='conversation',
            field=fields.ForeignKeyField('models.Conversation', source_field='conversation_id', null=True, db_constraint=True, to_field='id', related_name='outgoing', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='OutgoingMessage',
            name='origin',
            field=fields.CharEnumField(default=Origin.COMMAND, description='COMMAND: command\nTOPIC: topic\nBULK: bulk', db_default='command', enum_type=Origin, max_length=8),
        ),
        ops.AddField(
            model_name='OutgoingMessage',
            name='ui_claim_until',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='OutgoingMessage',
            name='ui_status',
            field=fields.CharField(null=True, max_length=16),
        ),
        ops.AddField(
            model_name='OutgoingMessage',
            name='waiting_told',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddIndex(
            model_name='OutgoingMessage',
            index=Index(fields=['chat_id', 'recipient', 'status']),
        ),
    ]
