from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from bot.gateways.base import LineState
from bot.storage.models import MessageStatus
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.BigIntField(primary_key=True, generated=False, unique=True, db_index=True)),
                ('language', fields.CharField(default='en', max_length=8)),
                ('active_chat_id', fields.IntField(null=True)),
                ('connecting', fields.BooleanField(default=False)),
                ('blocked_bot', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'user', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A Telegram user of the bot (id = Telegram user id).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WhatsAppChat',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('owner', fields.ForeignKeyField('models.User', source_field='owner_id', db_constraint=True, to_field='id', related_name='chats', on_delete=OnDelete.CASCADE)),
                ('gateway', fields.CharField(max_length=32)),
                ('instance_id', fields.CharField(max_length=128)),
                ('token_secret', fields.TextField(unique=False)),
                ('options', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('state', fields.CharEnumField(default=LineState.PROVISIONING, description='PROVISIONING: provisioning\nSTARTING: starting\nAWAITING_QR: awaiting_qr\nAUTHORIZED: authorized\nSLEEPING: sleeping\nRESTRICTED: restricted\nBLOCKED: blocked\nLOGGED_OUT: logged_out\nRELEASED: released\nUNKNOWN: unknown', enum_type=LineState, max_length=16)),
                ('state_raw', fields.CharField(default='', max_length=64)),
                ('account_name', fields.CharField(null=True, max_length=128)),
                ('account_phone', fields.CharField(null=True, max_length=32)),
                ('lost_reason', fields.CharField(null=True, max_length=255)),
                ('connect_deadline', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('ui_chat_id', fields.BigIntField(null=True)),
                ('ui_message_id', fields.BigIntField(null=True)),
                ('ui_is_photo', fields.BooleanField(default=False)),
                ('qr_fingerprint', fields.CharField(null=True, max_length=32)),
                ('qr_count', fields.IntField(default=0)),
                ('next_send_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('linked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'whatsapp_chat', 'app': 'models', 'indexes': [Index(fields=['gateway', 'instance_id'])], 'pk_attr': 'id', 'table_description': 'One WhatsApp line a user linked (or is linking) through a gateway.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OutgoingMessage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('chat', fields.ForeignKeyField('models.WhatsAppChat', source_field='chat_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('recipient', fields.CharField(max_length=32)),
                ('text', fields.TextField(unique=False)),
                ('status', fields.CharEnumField(default=MessageStatus.QUEUED, description='QUEUED: queued\nSENDING: sending\nSENT: sent\nDELIVERED: delivered\nREAD: read\nFAILED: failed', enum_type=MessageStatus, max_length=16)),
                ('error', fields.CharField(null=True, max_length=255)),
                ('gateway_message_id', fields.CharField(null=True, max_length=255)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('source_chat_id', fields.BigIntField()),
                ('source_message_id', fields.BigIntField()),
                ('ui_message_id', fields.BigIntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'outgoing_message', 'app': 'models', 'unique_together': (('source_chat_id', 'source_message_id'),), 'indexes': [Index(fields=['status', 'next_attempt_at'])], 'pk_attr': 'id', 'table_description': 'A WhatsApp message a user asked to send: stored before the gateway is called.'},
            bases=['Model'],
        ),
    ]
