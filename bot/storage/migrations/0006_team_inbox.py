from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0005_two_way_and_replicas')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Desk',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('chat', fields.OneToOneField('models.WhatsAppChat', source_field='chat_id', db_constraint=True, to_field='id', related_name='desk', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(default='line', max_length=8)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'desk', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A line shared by a team: its conversations go to the members, one member per contact.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DeskArea',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('desk', fields.ForeignKeyField('models.Desk', source_field='desk_id', db_constraint=True, to_field='id', related_name='areas', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=64)),
                ('hci_area_id', fields.CharField(null=True, max_length=32)),
            ],
            options={'table': 'desk_area', 'app': 'models', 'unique_together': (('desk_id', 'name'),), 'pk_attr': 'id', 'table_description': 'A department of a desk: contacts wait in its queue, and its members see them.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DeskContact',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('desk', fields.ForeignKeyField('models.Desk', source_field='desk_id', db_constraint=True, to_field='id', related_name='contacts', on_delete=OnDelete.CASCADE)),
                ('contact', fields.CharField(max_length=64)),
                ('name', fields.CharField(null=True, max_length=128)),
                ('area', fields.ForeignKeyField('models.DeskArea', source_field='area_id', null=True, db_constraint=True, to_field='id', related_name='contacts', on_delete=OnDelete.SET_NULL)),
                ('owner', fields.ForeignKeyField('models.User', source_field='owner_id', null=True, db_constraint=True, to_field='id', related_name='desk_contacts', on_delete=OnDelete.SET_NULL)),
                ('hci_pending', fields.BooleanField(default=False)),
                ('hci_operator', fields.CharField(null=True, max_length=32)),
                ('announced', fields.BooleanField(default=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'desk_contact', 'app': 'models', 'unique_together': (('desk_id', 'contact'),), 'pk_attr': 'id', 'table_description': 'One customer of a desk and the member answering them (None: waiting in the queue).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DeskCard',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('contact', fields.ForeignKeyField('models.DeskContact', source_field='contact_id', db_constraint=True, to_field='id', related_name='cards', on_delete=OnDelete.CASCADE)),
                ('incoming', fields.ForeignKeyField('models.IncomingMessage', source_field='incoming_id', null=True, db_constraint=True, to_field='id', related_name='cards', on_delete=OnDelete.CASCADE)),
                ('user_id', fields.BigIntField()),
                ('telegram_message_id', fields.BigIntField()),
                ('queued', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'desk_card', 'app': 'models', 'unique_together': (('incoming_id', 'user_id'),), 'indexes': [Index(fields=['user_id', 'telegram_message_id'])], 'pk_attr': 'id', 'table_description': 'A Telegram message about a desk contact, shown to one member: a queue card (with Take)'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DeskInvite',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('desk', fields.ForeignKeyField('models.Desk', source_field='desk_id', db_constraint=True, to_field='id', related_name='invites', on_delete=OnDelete.CASCADE)),
                ('token', fields.CharField(unique=True, max_length=64)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_by', fields.BigIntField(null=True)),
            ],
            options={'table': 'desk_invite', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A single-use link to join a desk (`t.me/<bot>?start=desk-<token>`), valid 24 h.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DeskMember',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('desk', fields.ForeignKeyField('models.Desk', source_field='desk_id', db_constraint=True, to_field='id', related_name='members', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='desks', on_delete=OnDelete.CASCADE)),
                ('signature', fields.BooleanField(default=False)),
                ('hci_operator_id', fields.CharField(null=True, max_length=32)),
                ('joined_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'desk_member', 'app': 'models', 'unique_together': (('desk_id', 'user_id'),), 'pk_attr': 'id', 'table_description': "A Telegram user answering a desk (the line's owner is one too)."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DeskMemberArea',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.DeskMember', source_field='member_id', db_constraint=True, to_field='id', related_name='areas', on_delete=OnDelete.CASCADE)),
                ('area', fields.ForeignKeyField('models.DeskArea', source_field='area_id', db_constraint=True, to_field='id', related_name='members', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'desk_member_area', 'app': 'models', 'unique_together': (('member_id', 'area_id'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='User',
            name='first_name',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='User',
            name='username',
            field=fields.CharField(null=True, max_length=32),
        ),
    ]
