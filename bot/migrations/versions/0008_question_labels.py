"""Labels from daily work: which KB article answers a resolved ticket's question.

One row per ticket (a later tap replaces it); no free text, the question stays the ticket's.
These rows are the deployment's own query set for ``hisbot kb eval/calibrate --from-history``.

Revision ID: 0008_question_labels
Revises: 0007_workflows
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_question_labels"
down_revision: str | Sequence[str] | None = "0007_workflows"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "question_label",
        sa.Column("ticket_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("verdict", sa.String(length=8), nullable=False),
        sa.Column("article_id", sa.String(length=64), nullable=True),
        sa.Column("labelled_by", sa.String(length=32), nullable=False),
        sa.Column("labelled_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "verdict IN ('article', 'none', 'new')", name="ck_question_label_verdict"
        ),
        sa.ForeignKeyConstraint(["labelled_by"], ["engineer.id"]),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"]),
        sa.PrimaryKeyConstraint("ticket_id"),
    )


def downgrade() -> None:
    op.drop_table("question_label")
