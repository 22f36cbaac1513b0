"""enrolments, the waitlist, lesson progress, progress events and quiz attempts

Also the foreign key from certificates.enrolment_id (the certificates table comes first, in 0004).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 20:30:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.execute('CREATE SEQUENCE enrolments_waitlist_ticket_seq')
    op.create_table('enrolments',
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('run_id', sa.UUID(), nullable=False),
    sa.Column('course_id', sa.UUID(), nullable=False),
    sa.Column('status', sa.Enum('enrolled', 'waitlisted', 'completed', 'withdrawn', name='enrolment_status'), nullable=False),
    sa.Column('waitlist_ticket', sa.BigInteger(), nullable=True),
    sa.Column('enrolled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('waitlisted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('promoted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('enrolled_by', sa.UUID(), nullable=True),
    sa.Column('progress_percent', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('last_activity_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resume_lesson_id', sa.UUID(), nullable=True),
    sa.Column('attended', postgresql.TSTZMULTIRANGE(), server_default='{}', nullable=False),
    sa.Column('attendance_minutes_marked', sa.SmallInteger(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(status = 'completed') = (completed_at IS NOT NULL) OR status = 'withdrawn'", name=op.f('ck_enrolments_completed_has_date')),
    sa.CheckConstraint("status <> 'enrolled' OR enrolled_at IS NOT NULL", name=op.f('ck_enrolments_enrolled_has_date')),
    sa.CheckConstraint("status <> 'waitlisted' OR waitlist_ticket IS NOT NULL", name=op.f('ck_enrolments_waitlist_has_ticket')),
    sa.CheckConstraint('attendance_minutes_marked IS NULL OR attendance_minutes_marked >= 0', name=op.f('ck_enrolments_marked_minutes_positive')),
    sa.CheckConstraint('progress_percent BETWEEN 0 AND 100', name=op.f('ck_enrolments_progress_percent_range')),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_enrolments_course_id_courses'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['enrolled_by'], ['users.id'], name=op.f('fk_enrolments_enrolled_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['resume_lesson_id'], ['lessons.id'], name=op.f('fk_enrolments_resume_lesson_id_lessons'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['run_id'], ['course_runs.id'], name=op.f('fk_enrolments_run_id_course_runs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_enrolments_user_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrolments'))
    )
    op.create_index('ix_enrolments_course_id_user_id', 'enrolments', ['course_id', 'user_id'], unique=False)
    op.create_index('ix_enrolments_user_id_created_at', 'enrolments', ['user_id', 'created_at'], unique=False)
    op.create_index('ix_enrolments_waitlist', 'enrolments', ['run_id', 'waitlist_ticket'], unique=False, postgresql_where="status = 'waitlisted'")
    op.create_index('uq_enrolments_run_id_user_id_active', 'enrolments', ['run_id', 'user_id'], unique=True, postgresql_where="status <> 'withdrawn'")
    op.create_table('lesson_progress',
    sa.Column('enrolment_id', sa.UUID(), nullable=False),
    sa.Column('lesson_id', sa.UUID(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_event_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('watched', postgresql.NUMMULTIRANGE(), server_default='{}', nullable=False),
    sa.Column('watched_seconds', sa.Numeric(precision=10, scale=2), server_default='0', nullable=False),
    sa.Column('attempts_used', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('best_score', sa.SmallInteger(), nullable=True),
    sa.Column('passed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('attempts_used >= 0', name=op.f('ck_lesson_progress_attempts_non_negative')),
    sa.CheckConstraint('best_score IS NULL OR best_score BETWEEN 0 AND 100', name=op.f('ck_lesson_progress_best_score_range')),
    sa.ForeignKeyConstraint(['enrolment_id'], ['enrolments.id'], name=op.f('fk_lesson_progress_enrolment_id_enrolments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['lesson_id'], ['lessons.id'], name=op.f('fk_lesson_progress_lesson_id_lessons'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('enrolment_id', 'lesson_id', name=op.f('pk_lesson_progress'))
    )
    op.create_table('progress_events',
    sa.Column('enrolment_id', sa.UUID(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('type', sa.Enum('lesson_opened', 'lesson_completed', 'video_watched', 'quiz_attempt', 'attendance', name='progress_event_type'), nullable=False),
    sa.Column('lesson_id', sa.UUID(), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('from_second', sa.Numeric(precision=10, scale=2), nullable=True),
    sa.Column('to_second', sa.Numeric(precision=10, scale=2), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('ended_at IS NULL OR ended_at > occurred_at', name=op.f('ck_progress_events_attendance_forward')),
    sa.CheckConstraint('from_second IS NULL OR from_second >= 0', name=op.f('ck_progress_events_from_non_negative')),
    sa.CheckConstraint('to_second IS NULL OR to_second > from_second', name=op.f('ck_progress_events_interval_forward')),
    sa.ForeignKeyConstraint(['enrolment_id'], ['enrolments.id'], name=op.f('fk_progress_events_enrolment_id_enrolments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('enrolment_id', 'client_id', name=op.f('pk_progress_events'))
    )
    op.create_table('quiz_attempts',
    sa.Column('enrolment_id', sa.UUID(), nullable=False),
    sa.Column('lesson_id', sa.UUID(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('attempt', sa.SmallInteger(), nullable=False),
    sa.Column('answers', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('score', sa.SmallInteger(), nullable=False),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.CheckConstraint('attempt >= 1', name=op.f('ck_quiz_attempts_attempt_positive')),
    sa.CheckConstraint('score BETWEEN 0 AND 100', name=op.f('ck_quiz_attempts_score_range')),
    sa.ForeignKeyConstraint(['enrolment_id'], ['enrolments.id'], name=op.f('fk_quiz_attempts_enrolment_id_enrolments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['lesson_id'], ['lessons.id'], name=op.f('fk_quiz_attempts_lesson_id_lessons'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quiz_attempts')),
    sa.UniqueConstraint('enrolment_id', 'client_id', name=op.f('uq_quiz_attempts_enrolment_id_client_id')),
    sa.UniqueConstraint('enrolment_id', 'lesson_id', 'attempt', name=op.f('uq_quiz_attempts_enrolment_id_lesson_id_attempt'))
    )
    op.create_foreign_key(op.f('fk_certificates_enrolment_id_enrolments'), 'certificates', 'enrolments', ['enrolment_id'], ['id'], ondelete='RESTRICT')


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_constraint(op.f('fk_certificates_enrolment_id_enrolments'), 'certificates', type_='foreignkey')
    op.drop_table('quiz_attempts')
    op.drop_table('progress_events')
    op.drop_table('lesson_progress')
    op.drop_index('uq_enrolments_run_id_user_id_active', table_name='enrolments', postgresql_where="status <> 'withdrawn'")
    op.drop_index('ix_enrolments_waitlist', table_name='enrolments', postgresql_where="status = 'waitlisted'")
    op.drop_index('ix_enrolments_user_id_created_at', table_name='enrolments')
    op.drop_index('ix_enrolments_course_id_user_id', table_name='enrolments')
    op.drop_table('enrolments')
    op.execute('DROP SEQUENCE IF EXISTS enrolments_waitlist_ticket_seq')
    op.execute('DROP TYPE IF EXISTS progress_event_type')
    op.execute('DROP TYPE IF EXISTS enrolment_status')
