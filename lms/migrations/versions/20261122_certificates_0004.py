"""certificates of attendance and their PDF versions

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 19:40:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('certificates',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('enrolment_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('course_id', sa.UUID(), nullable=False),
    sa.Column('run_id', sa.UUID(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'issued', 'revoked', name='certificate_status'), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outbox_id', sa.UUID(), nullable=True),
    sa.Column('language', sa.String(length=2), nullable=True),
    sa.Column('learner_name', sa.String(length=200), nullable=True),
    sa.Column('course_title', sa.Text(), nullable=True),
    sa.Column('course_format', sa.String(length=20), nullable=True),
    sa.Column('hours', sa.Numeric(precision=7, scale=2), nullable=True),
    sa.Column('completed_on', sa.Date(), nullable=True),
    sa.Column('issuer_name', sa.String(length=200), nullable=True),
    sa.Column('signatory_name', sa.String(length=200), nullable=True),
    sa.Column('signatory_title', sa.String(length=200), nullable=True),
    sa.Column('version', sa.Integer(), server_default='0', nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('object_key', sa.String(length=300), nullable=True),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_reason', sa.Text(), nullable=True),
    sa.Column('revoked_by', sa.UUID(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(status = 'revoked') = (revoked_at IS NOT NULL)", name=op.f('ck_certificates_revoked_has_date')),
    sa.CheckConstraint("status = 'pending' OR (version >= 1 AND sha256 IS NOT NULL AND object_key IS NOT NULL AND learner_name IS NOT NULL AND course_title IS NOT NULL AND issued_at IS NOT NULL)", name=op.f('ck_certificates_issued_has_pdf')),
    sa.CheckConstraint('length(code) >= 22', name=op.f('ck_certificates_code_carries_128_bits')),
    sa.CheckConstraint('version >= 0', name=op.f('ck_certificates_version_non_negative')),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_certificates_course_id_courses'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name=op.f('fk_certificates_outbox_id_outbox'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['revoked_by'], ['users.id'], name=op.f('fk_certificates_revoked_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['run_id'], ['course_runs.id'], name=op.f('fk_certificates_run_id_course_runs'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_certificates_user_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certificates')),
    sa.UniqueConstraint('code', name=op.f('uq_certificates_code')),
    sa.UniqueConstraint('enrolment_id', name=op.f('uq_certificates_enrolment_id'))
    )
    op.create_index('ix_certificates_course_id', 'certificates', ['course_id'], unique=False)
    op.create_index('ix_certificates_pending', 'certificates', ['created_at'], unique=False, postgresql_where="status = 'pending'")
    op.create_index('ix_certificates_user_id_created_at', 'certificates', ['user_id', 'created_at'], unique=False)
    op.create_table('certificate_versions',
    sa.Column('certificate_id', sa.UUID(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('object_key', sa.String(length=300), nullable=False),
    sa.Column('snapshot', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('created_by', sa.UUID(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.CheckConstraint('version >= 1', name=op.f('ck_certificate_versions_version_positive')),
    sa.ForeignKeyConstraint(['certificate_id'], ['certificates.id'], name=op.f('fk_certificate_versions_certificate_id_certificates'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_certificate_versions_created_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certificate_versions')),
    sa.UniqueConstraint('certificate_id', 'version', name=op.f('uq_certificate_versions_certificate_id_version'))
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('certificate_versions')
    op.drop_index('ix_certificates_user_id_created_at', table_name='certificates')
    op.drop_index('ix_certificates_pending', table_name='certificates', postgresql_where="status = 'pending'")
    op.drop_index('ix_certificates_course_id', table_name='certificates')
    op.drop_table('certificates')
    sa.Enum(name='certificate_status').drop(op.get_bind(), checkfirst=True)
