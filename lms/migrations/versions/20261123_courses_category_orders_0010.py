"""a category's courses in newest and popularity order, read from indexes

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 05:10:00

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # Browsing a category read the newest (or most popular) courses of the whole catalogue and skipped
    # those of other categories, visiting each one's row; these give the category's page in order.
    op.drop_index('ix_courses_published_category', table_name='courses', postgresql_where="status = 'published'")
    op.create_index('ix_courses_published_category', 'courses', ['category', 'published_at', 'id'], unique=False, postgresql_where="status = 'published'", postgresql_include=['format'])
    op.create_index('ix_courses_published_category_popular', 'courses', ['category', 'popularity', 'published_at', 'id'], unique=False, postgresql_where="status = 'published'")


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_courses_published_category_popular', table_name='courses', postgresql_where="status = 'published'")
    op.drop_index('ix_courses_published_category', table_name='courses', postgresql_where="status = 'published'")
    op.create_index('ix_courses_published_category', 'courses', ['category', 'format'], unique=False, postgresql_where="status = 'published'")
