"""each course's current or next enrolment window, kept on the course for the "open now" filter

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 21:50:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# The windows in which a course's runs take enrolments (opens .. the earlier of closes and the run's end),
# merged where they overlap; the course keeps the first one that has not ended. "Open now" is then
# enrolling_from <= now < enrolling_until, exact until that window ends; a beat task moves courses whose
# window ended on to their next one (courses.refresh_listing).
WINDOW_FUNCTION = """
CREATE OR REPLACE FUNCTION aula_course_enrolment_window(course uuid) RETURNS void LANGUAGE sql AS $$
    UPDATE courses c SET enrolling_from = w.from_, enrolling_until = w.until_
    FROM (SELECT lower(next_window) AS from_, upper(next_window) AS until_
          FROM (SELECT (SELECT m FROM unnest(range_agg(window_)) AS m
                        WHERE upper(m) > statement_timestamp() ORDER BY lower(m) LIMIT 1) AS next_window
                FROM (SELECT tstzrange(coalesce(r.enrolment_opens_at, '-infinity'),
                                       least(coalesce(r.enrolment_closes_at, 'infinity'),
                                             coalesce(r.ends_at, 'infinity'))) AS window_
                      FROM course_runs r
                      WHERE r.course_id = course
                        AND coalesce(r.enrolment_opens_at, '-infinity')
                            < least(coalesce(r.enrolment_closes_at, 'infinity'), coalesce(r.ends_at, 'infinity'))
                     ) AS windows
               ) AS merged
         ) AS w
    WHERE c.id = course
      AND (c.enrolling_from IS DISTINCT FROM w.from_ OR c.enrolling_until IS DISTINCT FROM w.until_)
$$"""

WINDOW_TRIGGER = (
    """CREATE OR REPLACE FUNCTION aula_course_runs_window() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM aula_course_enrolment_window(OLD.course_id);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND (TG_OP = 'INSERT' OR NEW.course_id <> OLD.course_id) THEN
        PERFORM aula_course_enrolment_window(NEW.course_id);
    END IF;
    RETURN NULL;
END $$""",
    """CREATE TRIGGER course_runs_enrolment_window
    AFTER INSERT OR DELETE
        OR UPDATE OF enrolment_opens_at, enrolment_closes_at, ends_at, course_id ON course_runs
    FOR EACH ROW EXECUTE FUNCTION aula_course_runs_window()""",
)


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column('courses', sa.Column('enrolling_from', sa.DateTime(timezone=True), nullable=True))
    op.add_column('courses', sa.Column('enrolling_until', sa.DateTime(timezone=True), nullable=True))
    op.execute(WINDOW_FUNCTION)
    for statement in WINDOW_TRIGGER:
        op.execute(statement)
    op.execute("SELECT aula_course_enrolment_window(id) FROM courses")
    # Covering: "open now" counts and sorts its matches from the index alone.
    op.create_index('ix_courses_published_enrolling', 'courses', ['enrolling_from'], unique=False, postgresql_where="status = 'published'", postgresql_include=['enrolling_until', 'format', 'published_at', 'popularity', 'id'])
    op.create_index('ix_courses_window_ends', 'courses', ['enrolling_until'], unique=False, postgresql_where="enrolling_until IS NOT NULL")
    # Only published courses are ever searched: a smaller index, and counting matches needs no status check.
    op.drop_index('ix_courses_search_vector', table_name='courses', postgresql_using='gin')
    op.create_index('ix_courses_search_vector', 'courses', ['search_vector'], unique=False, postgresql_using='gin', postgresql_where="status = 'published'")


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_courses_search_vector', table_name='courses', postgresql_using='gin')
    op.create_index('ix_courses_search_vector', 'courses', ['search_vector'], unique=False, postgresql_using='gin')
    op.drop_index('ix_courses_window_ends', table_name='courses')
    op.drop_index('ix_courses_published_enrolling', table_name='courses')
    op.execute('DROP TRIGGER IF EXISTS course_runs_enrolment_window ON course_runs')
    op.execute('DROP FUNCTION IF EXISTS aula_course_runs_window()')
    op.execute('DROP FUNCTION IF EXISTS aula_course_enrolment_window(uuid)')
    op.drop_column('courses', 'enrolling_until')
    op.drop_column('courses', 'enrolling_from')
