"""On PostgreSQL, advance the chain head from the insert itself.

An AFTER INSERT trigger copies the new event's sequence and hash into the chain-head row the
writer already holds locked, saving one round trip per audited event (``audit_emit`` skips
its own UPDATE there). SQLite keeps the explicit update in ``audit_emit``.
"""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

CREATE = """
CREATE OR REPLACE FUNCTION audit_chain_head_advance() RETURNS trigger AS $$
BEGIN
    UPDATE audit_chainhead SET sequence = NEW.sequence, hash = NEW.hash WHERE id = 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_event_advances_head
    AFTER INSERT ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_chain_head_advance();
"""

DROP = """
DROP TRIGGER IF EXISTS audit_event_advances_head ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_chain_head_advance();
"""


def create_trigger(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_trigger(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_add_append_only_trigger")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
