from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from bot.storage.models import BulkState, MessageStatus
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0007_reliability_and_conversations')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Bulk',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('owner', fields.ForeignKeyField('models.User', source_field='owner_id', db_constraint=True, to_field='id', related_name='bulks', on_delete=OnDelete.CASCADE)),
                ('chat', fields.ForeignKeyField('models.WhatsAppChat', source_field='chat_id', db_constraint=True, to_field='id', related_name='bulks', on_delete=OnDelete.CASCADE)),
                ('state', fields.CharEnumField(default=BulkState.LIST, description='LIST: list\nTEXT: text\nPREVIEW: preview\nRUNNING: running\nPAUSED: paused\nASKING: asking\nSTOPPED: stopped\nDONE: done', enum_type=BulkState, max_length=16)),
                ('pause_reason', fields.CharField(null=True, max_length=32)),
                ('active_line', fields.IntField(null=True, unique=True)),
                ('draft', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('text', fields.TextField(default='', unique=False)),
                ('file_id', fields.CharField(null=True, max_length=255)),
                ('file_name', fields.CharField(null=True, max_length=255)),
                ('file_mime', fields.CharField(null=True, max_length=128)),
                ('field_names', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('total', fields.IntField(default=0)),
                ('progress_message_id', fields.BigIntField(null=True)),
                ('shown', fields.CharField(null=True, max_length=64)),
                ('shown_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('cap_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('running_since', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('reported_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'bulk', 'app': 'models', 'indexes': [Index(fields=['state', 'reported_at']), Index(fields=['owner_id', 'state'])], 'pk_attr': 'id', 'table_description': 'One bulk send: a text (or a photo or file with it as the caption) to a list of numbers,'},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='OutgoingMessage',
            name='status',
            field=fields.CharEnumField(default=MessageStatus.QUEUED, description='HELD: held\nQUEUED: queued\nSENDING: sending\nSENT: sent\nDELIVERED: delivered\nREAD: read\nFAILED: failed', enum_type=MessageStatus, max_length=16),
        ),
        ops.AddField(
            model_name='OutgoingMessage',
            name='bulk',
            field=fields.ForeignKeyField('models.Bulk', source_field='bulk_id', null=True, db_constraint=True, to_field='id', related_name='rows', on_delete=OnDelete.CASCADE),
        ),
        ops.AddField(
            model_name='OutgoingMessage',
            name='bulk_fields',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddIndex(
            model_name='OutgoingMessage',
            index=Index(fields=['bulk_id', 'status']),
        ),
    ]
