"""courses catalogue and publishing

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 19:40:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# unaccent() is only STABLE (its dictionary could change), so generated columns and indexes need an
# IMMUTABLE wrapper that names the dictionary explicitly; same for array_to_string on text[].
FUNCTIONS = (
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    """CREATE OR REPLACE FUNCTION aula_unaccent(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$""",
    """CREATE OR REPLACE FUNCTION aula_words(text[]) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(array_to_string($1, ' '), '') $$""",
)

# courses.popularity follows the seats taken in all of a course's runs, whoever changes them.
POPULARITY_TRIGGER = (
    """CREATE OR REPLACE FUNCTION aula_course_popularity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.seats_taken <> 0 THEN
        UPDATE courses SET popularity = greatest(popularity - OLD.seats_taken, 0) WHERE id = OLD.course_id;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.seats_taken <> 0 THEN
        UPDATE courses SET popularity = popularity + NEW.seats_taken WHERE id = NEW.course_id;
    END IF;
    RETURN NULL;
END $$""",
    """CREATE TRIGGER course_runs_popularity
    AFTER INSERT OR DELETE OR UPDATE OF seats_taken, course_id ON course_runs
    FOR EACH ROW EXECUTE FUNCTION aula_course_popularity()""",
)


def upgrade() -> None:
    """Upgrade schema."""
    for statement in FUNCTIONS:
        op.execute(statement)
    op.create_table('courses',
    sa.Column('slug', sa.String(length=120), nullable=False),
    sa.Column('format', sa.Enum('mooc', 'instant', 'masterclass', name='course_format'), nullable=False),
    sa.Column('status', sa.Enum('draft', 'published', 'archived', name='course_status'), nullable=False),
    sa.Column('title', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('summary', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('description', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('category', sa.String(length=60), nullable=True),
    sa.Column('tags', postgresql.ARRAY(sa.String(length=40)), nullable=False),
    sa.Column('digcomp', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('estimated_hours', sa.Float(), nullable=True),
    sa.Column('languages', postgresql.ARRAY(sa.String(length=2)), nullable=False),
    sa.Column('cover_asset_id', sa.UUID(), nullable=True),
    sa.Column('speakers', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('speaker_names', postgresql.ARRAY(sa.String(length=200)), nullable=False),
    sa.Column('certificates_enabled', sa.Boolean(), nullable=False),
    sa.Column('completion_min_required_percent', sa.SmallInteger(), nullable=False),
    sa.Column('completion_requires_quizzes_passed', sa.Boolean(), nullable=False),
    sa.Column('completion_requires_attendance', sa.Boolean(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('popularity', sa.Integer(), server_default='0', nullable=False),
    sa.Column('search_vector', postgresql.TSVECTOR(), sa.Computed("setweight(to_tsvector('simple', aula_unaccent(coalesce(title->>'ca', '') || ' ' || coalesce(title->>'es', '') || ' ' || coalesce(title->>'en', '') || ' ' || slug)), 'A') || setweight(to_tsvector('simple', aula_unaccent(coalesce(summary->>'ca', '') || ' ' || coalesce(summary->>'es', '') || ' ' || coalesce(summary->>'en', '') || ' ' || coalesce(category, '') || ' ' || aula_words(tags))), 'B') || setweight(to_tsvector('simple', aula_unaccent(coalesce(description->>'ca', '') || ' ' || coalesce(description->>'es', '') || ' ' || coalesce(description->>'en', '') || ' ' || aula_words(speaker_names))), 'C')", persisted=True), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'", name=op.f('ck_courses_slug_format')),
    sa.CheckConstraint("status <> 'published' OR published_at IS NOT NULL", name=op.f('ck_courses_published_has_date')),
    sa.CheckConstraint("title <> '{}'::jsonb", name=op.f('ck_courses_title_present')),
    sa.CheckConstraint('completion_min_required_percent BETWEEN 1 AND 100', name=op.f('ck_courses_completion_percent_range')),
    sa.CheckConstraint('estimated_hours IS NULL OR estimated_hours >= 0', name=op.f('ck_courses_hours_positive')),
    sa.CheckConstraint('popularity >= 0', name=op.f('ck_courses_popularity_positive')),
    sa.ForeignKeyConstraint(['cover_asset_id'], ['media_assets.id'], name=op.f('fk_courses_cover_asset_id_media_assets'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_courses')),
    sa.UniqueConstraint('slug', name=op.f('uq_courses_slug'))
    )
    op.create_index('ix_courses_digcomp', 'courses', ['digcomp'], unique=False, postgresql_using='gin', postgresql_ops={'digcomp': 'jsonb_path_ops'})
    op.create_index('ix_courses_languages', 'courses', ['languages'], unique=False, postgresql_using='gin')
    op.create_index('ix_courses_published_category', 'courses', ['category', 'format'], unique=False, postgresql_where="status = 'published'")
    op.create_index('ix_courses_published_newest', 'courses', ['published_at', 'id'], unique=False, postgresql_where="status = 'published'")
    op.create_index('ix_courses_published_popular', 'courses', ['popularity', 'published_at', 'id'], unique=False, postgresql_where="status = 'published'")
    op.create_index('ix_courses_search_vector', 'courses', ['search_vector'], unique=False, postgresql_using='gin')
    op.create_table('course_modules',
    sa.Column('course_id', sa.UUID(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('title', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('summary', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('available_from', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('position >= 0', name=op.f('ck_course_modules_position_positive')),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_course_modules_course_id_courses'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_course_modules')),
    sa.UniqueConstraint('course_id', 'position', deferrable=True, initially='DEFERRED', name=op.f('uq_course_modules_course_id_position')),
    sa.UniqueConstraint('id', 'course_id', name='uq_course_modules_id_course_id')
    )
    op.create_table('course_runs',
    sa.Column('course_id', sa.UUID(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('enrolment_opens_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('enrolment_closes_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('seats_taken', sa.Integer(), server_default='0', nullable=False),
    sa.Column('timezone', sa.String(length=64), server_default='Europe/Madrid', nullable=False),
    sa.Column('live_starts_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('live_duration_minutes', sa.Integer(), nullable=True),
    sa.Column('meeting_url', sa.String(length=500), nullable=True),
    sa.Column('venue', sa.String(length=300), nullable=True),
    sa.Column('recording_asset_id', sa.UUID(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('capacity IS NULL OR capacity > 0', name=op.f('ck_course_runs_capacity_positive')),
    sa.CheckConstraint('live_duration_minutes IS NULL OR live_duration_minutes > 0', name=op.f('ck_course_runs_live_duration_positive')),
    sa.CheckConstraint('seats_taken >= 0 AND (capacity IS NULL OR seats_taken <= capacity)', name=op.f('ck_course_runs_seats_within_capacity')),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_course_runs_course_id_courses'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recording_asset_id'], ['media_assets.id'], name=op.f('fk_course_runs_recording_asset_id_media_assets'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_course_runs'))
    )
    op.create_index('ix_course_runs_course_id_starts_at', 'course_runs', ['course_id', 'starts_at'], unique=False)
    op.create_index('ix_course_runs_live_starts_at', 'course_runs', ['live_starts_at'], unique=False, postgresql_where='live_starts_at IS NOT NULL')
    op.create_table('lessons',
    sa.Column('module_id', sa.UUID(), nullable=False),
    sa.Column('course_id', sa.UUID(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('article', 'video', 'image', 'document', 'quiz', 'live_session', 'embed', name='lesson_kind'), nullable=False),
    sa.Column('title', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.Column('estimated_minutes', sa.Integer(), nullable=True),
    sa.Column('available_from', sa.DateTime(timezone=True), nullable=True),
    sa.Column('asset_id', sa.UUID(), nullable=True),
    sa.Column('captions_asset_id', sa.UUID(), nullable=True),
    sa.Column('video_duration_seconds', sa.Integer(), nullable=True),
    sa.Column('embed_provider', sa.Enum('youtube', 'vimeo', name='embed_provider'), nullable=True),
    sa.Column('embed_id', sa.String(length=64), nullable=True),
    sa.Column('article_html', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('pass_mark', sa.SmallInteger(), nullable=True),
    sa.Column('max_attempts', sa.SmallInteger(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind <> 'embed' OR (embed_provider IS NOT NULL AND embed_id IS NOT NULL)", name=op.f('ck_lessons_embed_complete')),
    sa.CheckConstraint('estimated_minutes IS NULL OR estimated_minutes >= 0', name=op.f('ck_lessons_minutes_positive')),
    sa.CheckConstraint('max_attempts IS NULL OR max_attempts >= 1', name=op.f('ck_lessons_attempts_positive')),
    sa.CheckConstraint('pass_mark IS NULL OR pass_mark BETWEEN 0 AND 100', name=op.f('ck_lessons_pass_mark_range')),
    sa.CheckConstraint('position >= 0', name=op.f('ck_lessons_position_positive')),
    sa.CheckConstraint('video_duration_seconds IS NULL OR video_duration_seconds >= 0', name=op.f('ck_lessons_duration_positive')),
    sa.ForeignKeyConstraint(['asset_id'], ['media_assets.id'], name=op.f('fk_lessons_asset_id_media_assets'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['captions_asset_id'], ['media_assets.id'], name=op.f('fk_lessons_captions_asset_id_media_assets'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_lessons_course_id_courses'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['module_id', 'course_id'], ['course_modules.id', 'course_modules.course_id'], name='fk_lessons_module_id_course_modules', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lessons')),
    sa.UniqueConstraint('module_id', 'position', deferrable=True, initially='DEFERRED', name=op.f('uq_lessons_module_id_position'))
    )
    op.create_index('ix_lessons_course_id', 'lessons', ['course_id'], unique=False)
    op.create_table('quiz_questions',
    sa.Column('lesson_id', sa.UUID(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('single', 'multiple', 'true_false', name='question_kind'), nullable=False),
    sa.Column('prompt', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('explanation', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['lesson_id'], ['lessons.id'], name=op.f('fk_quiz_questions_lesson_id_lessons'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quiz_questions')),
    sa.UniqueConstraint('lesson_id', 'position', name=op.f('uq_quiz_questions_lesson_id_position'))
    )
    op.create_table('quiz_options',
    sa.Column('question_id', sa.UUID(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('text', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('is_correct', sa.Boolean(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['question_id'], ['quiz_questions.id'], name=op.f('fk_quiz_options_question_id_quiz_questions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quiz_options')),
    sa.UniqueConstraint('question_id', 'position', name=op.f('uq_quiz_options_question_id_position'))
    )
    for statement in POPULARITY_TRIGGER:
        op.execute(statement)


def downgrade() -> None:
    """Downgrade schema."""
    op.execute('DROP TRIGGER IF EXISTS course_runs_popularity ON course_runs')
    op.execute('DROP FUNCTION IF EXISTS aula_course_popularity()')
    op.drop_table('quiz_options')
    op.drop_table('quiz_questions')
    op.drop_index('ix_lessons_course_id', table_name='lessons')
    op.drop_table('lessons')
    op.drop_index('ix_course_runs_live_starts_at', table_name='course_runs', postgresql_where='live_starts_at IS NOT NULL')
    op.drop_index('ix_course_runs_course_id_starts_at', table_name='course_runs')
    op.drop_table('course_runs')
    op.drop_table('course_modules')
    op.drop_index('ix_courses_search_vector', table_name='courses', postgresql_using='gin')
    op.drop_index('ix_courses_published_popular', table_name='courses', postgresql_where="status = 'published'")
    op.drop_index('ix_courses_published_newest', table_name='courses', postgresql_where="status = 'published'")
    op.drop_index('ix_courses_published_category', table_name='courses', postgresql_where="status = 'published'")
    op.drop_index('ix_courses_languages', table_name='courses', postgresql_using='gin')
    op.drop_index('ix_courses_digcomp', table_name='courses', postgresql_using='gin', postgresql_ops={'digcomp': 'jsonb_path_ops'})
    op.drop_table('courses')
    for enum_name in ('course_format', 'course_status', 'lesson_kind', 'embed_provider', 'question_kind'):
        op.execute(f'DROP TYPE IF EXISTS {enum_name}')
    op.execute('DROP FUNCTION IF EXISTS aula_words(text[])')
    op.execute('DROP FUNCTION IF EXISTS aula_unaccent(text)')
