"""course popularity refreshed periodically instead of by a trigger on every seat change

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 21:30:00

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

REFRESH = """UPDATE courses c SET popularity = coalesce(
    (SELECT sum(r.seats_taken)::int FROM course_runs r WHERE r.course_id = c.id), 0)"""


def upgrade() -> None:
    """Upgrade schema."""
    op.execute('DROP TRIGGER IF EXISTS course_runs_popularity ON course_runs')
    op.execute('DROP FUNCTION IF EXISTS aula_course_popularity()')
    op.execute(REFRESH)


def downgrade() -> None:
    """Downgrade schema."""
    op.execute(
        """CREATE OR REPLACE FUNCTION aula_course_popularity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.seats_taken <> 0 THEN
        UPDATE courses SET popularity = greatest(popularity - OLD.seats_taken, 0) WHERE id = OLD.course_id;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.seats_taken <> 0 THEN
        UPDATE courses SET popularity = popularity + NEW.seats_taken WHERE id = NEW.course_id;
    END IF;
    RETURN NULL;
END $$"""
    )
    op.execute(
        """CREATE TRIGGER course_runs_popularity
    AFTER INSERT OR DELETE OR UPDATE OF seats_taken, course_id ON course_runs
    FOR EACH ROW EXECUTE FUNCTION aula_course_popularity()"""
    )
    op.execute(REFRESH)
