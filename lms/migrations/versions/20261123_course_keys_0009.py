"""the catalogue's inverted index: words and DigComp keys of published courses, kept by triggers

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 05:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# A published course's keys: each word of its search document with the best weight it has there (the
# weights ts_rank uses: A title 1.0, B summary/category/tags 0.4, C description/speakers 0.2), and each
# DigComp tag as "code", "code:level" and ":level". Drafts and archived courses have none.
KEYS_FUNCTION = """
CREATE OR REPLACE FUNCTION aula_course_keys_of(course courses) RETURNS void LANGUAGE sql AS $$
    INSERT INTO course_keys (kind, key, published_at, course_id, weight)
    SELECT 'w', v.lexeme, course.published_at, course.id,
           CASE WHEN 'A' = ANY(v.weights) THEN 1.0 WHEN 'B' = ANY(v.weights) THEN 0.4
                WHEN 'C' = ANY(v.weights) THEN 0.2 ELSE 0.1 END
    FROM unnest(course.search_vector) AS v
    WHERE course.status = 'published'
    UNION ALL
    SELECT DISTINCT 'c', k.key, course.published_at, course.id, 1.0
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(course.digcomp) = 'array' THEN course.digcomp
                                   ELSE '[]'::jsonb END) AS t(tag),
         LATERAL (VALUES (t.tag->>'code'),
                         ((t.tag->>'code') || ':' || (t.tag->>'level')),
                         (':' || (t.tag->>'level'))) AS k(key)
    WHERE course.status = 'published' AND k.key IS NOT NULL
$$"""

KEYS_TRIGGER = (
    """CREATE OR REPLACE FUNCTION aula_courses_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM course_keys WHERE course_id = OLD.id;
    END IF;
    PERFORM aula_course_keys_of(NEW);
    RETURN NULL;
END $$""",
    """CREATE TRIGGER courses_keys_inserted AFTER INSERT ON courses
    FOR EACH ROW WHEN (NEW.status = 'published') EXECUTE FUNCTION aula_courses_keys()""",
    # Popularity and enrolment windows are written often and change no key: no work for them.
    """CREATE TRIGGER courses_keys_updated AFTER UPDATE ON courses
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                       OR OLD.published_at IS DISTINCT FROM NEW.published_at
                       OR OLD.search_vector IS DISTINCT FROM NEW.search_vector
                       OR OLD.digcomp IS DISTINCT FROM NEW.digcomp)
    EXECUTE FUNCTION aula_courses_keys()""",
)


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'course_keys',
        sa.Column('kind', sa.String(length=1), nullable=False),
        sa.Column('key', sa.Text(collation='C'), nullable=False),
        sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('course_id', sa.UUID(), nullable=False),
        sa.Column('weight', sa.REAL(), nullable=False),
        sa.CheckConstraint("kind IN ('w', 'c')", name=op.f('ck_course_keys_kind_known')),
        sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_course_keys_course_id_courses'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('kind', 'key', 'published_at', 'course_id', name=op.f('pk_course_keys'), postgresql_include=['weight']),
    )
    op.create_index('ix_course_keys_course_id', 'course_keys', ['course_id'], unique=False)
    op.execute(KEYS_FUNCTION)
    for statement in KEYS_TRIGGER:
        op.execute(statement)
    op.execute("SELECT aula_course_keys_of(c) FROM courses c WHERE c.status = 'published'")
    op.execute('ANALYZE course_keys')
    # DigComp filters read course_keys now.
    op.drop_index('ix_courses_digcomp', table_name='courses', postgresql_using='gin')


def downgrade() -> None:
    """Downgrade schema."""
    op.create_index('ix_courses_digcomp', 'courses', ['digcomp'], unique=False, postgresql_using='gin', postgresql_ops={'digcomp': 'jsonb_path_ops'})
    op.execute('DROP TRIGGER IF EXISTS courses_keys_updated ON courses')
    op.execute('DROP TRIGGER IF EXISTS courses_keys_inserted ON courses')
    op.execute('DROP FUNCTION IF EXISTS aula_courses_keys()')
    op.execute('DROP FUNCTION IF EXISTS aula_course_keys_of(courses)')
    op.drop_index('ix_course_keys_course_id', table_name='course_keys')
    op.drop_table('course_keys')
