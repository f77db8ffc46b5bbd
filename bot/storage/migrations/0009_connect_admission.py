from tortoise import migrations
from tortoise.migrations import operations as ops
from bot.storage.models import TicketState
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0008_bulk_send')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AdmissionClock',
            fields=[
                ('id', fields.IntField(primary_key=True, unique=True, db_index=True)),
                ('next_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('turns', fields.BigIntField(default=0)),
            ],
            options={'table': 'admission_clock', 'app': 'models', 'pk_attr': 'id', 'table_description': 'When the connect queue may admit its next attempt (one row, id 1). A replica takes'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ConnectTicket',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='connect_tickets', on_delete=OnDelete.CASCADE)),
                ('ui_chat_id', fields.BigIntField()),
                ('gateway', fields.CharField(max_length=32)),
                ('state', fields.CharEnumField(default=TicketState.WAITING, description='WAITING: waiting\nADMITTED: admitted\nCANCELLED: cancelled', enum_type=TicketState, max_length=16)),
                ('entered_by', fields.CharField(null=True, max_length=64)),
                ('ui_message_id', fields.BigIntField(null=True)),
                ('told_place', fields.IntField(null=True)),
                ('told_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('admitted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'connect_ticket', 'app': 'models', 'indexes': [Index(fields=['state', 'id']), Index(fields=['user_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'A /connect attempt from the moment it was accepted: its place in the connect queue (first'},
            bases=['Model'],
        ),
    ]
