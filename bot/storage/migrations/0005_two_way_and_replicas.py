from tortoise import migrations
from tortoise.migrations import operations as ops
from bot.gateways.base import MessageKind
from bot.storage.models import InboundStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0004_user_awaiting_credentials')]

    initial = False

    operations = [
        ops.CreateModel(
            name='IncomingMessage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('chat', fields.ForeignKeyField('models.WhatsAppChat', source_field='chat_id', db_constraint=True, to_field='id', related_name='inbox', on_delete=OnDelete.CASCADE)),
                ('gateway_message_id', fields.CharField(max_length=255)),
                ('conversation', fields.CharField(max_length=64)),
                ('sender', fields.CharField(max_length=32)),
                ('sender_name', fields.CharField(null=True, max_length=128)),
                ('group_name', fields.CharField(null=True, max_length=128)),
                ('kind', fields.CharEnumField(default=MessageKind.TEXT, description='TEXT: text\nIMAGE: image\nVIDEO: video\nDOCUMENT: document\nVOICE: voice\nAUDIO: audio\nSTICKER: sticker\nLOCATION: location\nCONTACT: contact\nCALL: call\nOTHER: other', enum_type=MessageKind, max_length=16)),
                ('text', fields.TextField(default='', unique=False)),
                ('media_url', fields.TextField(null=True, unique=False)),
                ('file_name', fields.CharField(null=True, max_length=255)),
                ('mime_type', fields.CharField(null=True, max_length=128)),
                ('details', fields.CharField(default='', max_length=255)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('status', fields.CharEnumField(default=InboundStatus.PENDING, description='PENDING: pending\nFORWARDED: forwarded\nSKIPPED: skipped', enum_type=InboundStatus, max_length=16)),
                ('telegram_chat_id', fields.BigIntField(null=True)),
                ('telegram_message_id', fields.BigIntField(null=True)),
                ('attempts', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('forwarded_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'incoming_message', 'app': 'models', 'unique_together': (('chat_id', 'gateway_message_id'),), 'indexes': [Index(fields=['chat_id', 'status']), Index(fields=['telegram_chat_id', 'telegram_message_id'])], 'pk_attr': 'id', 'table_description': 'A WhatsApp message that reached a line, and the Telegram message that shows it.'},
            bases=['Model'],
        ),
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
        ops.CreateModel(
            name='MediaLink',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token', fields.CharField(unique=True, max_length=64)),
                ('data', fields.BinaryField()),
                ('mime', fields.CharField(max_length=128)),
                ('name', fields.CharField(max_length=255)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'media_link', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A file the bot serves under PUBLIC_URL for a gateway that fetches files by URL (ITD):'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='OutgoingMessage',
            name='file_id',
            field=fields.CharField(null=True, max_length=255),
        ),
        ops.AddField(
            model_name='OutgoingMessage',
            name='file_mime',
            field=fields.CharField(null=True, max_length=128),
        ),
        ops.AddField(
            model_name='OutgoingMessage',
            name='file_name',
            field=fields.CharField(null=True, max_length=255),
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
            model_name='OutgoingMessage',
            name='quoted_id',
            field=fields.CharField(null=True, max_length=255),
        ),
        ops.AddField(
            model_name='OutgoingMessage',
            name='recipient_name',
            field=fields.CharField(null=True, max_length=128),
        ),
        ops.AddField(
            model_name='User',
            name='connect_started_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='WhatsAppChat',
            name='incoming_cursor',
            field=fields.CharField(null=True, max_length=64),
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
        ops.AddField(
            model_name='WhatsAppChat',
            name='muted',
            field=fields.BooleanField(default=False, db_default=False),
        ),
    ]
