"""compliance: word lists (platform and per tenant) with categories and a whitelist, review
policies, the review queue and its chained decisions; the default platform list; the
`reviews` scope for keys that held every scope

Revision ID: compliance_0001
Revises: 0001

The default list is modest and public: the Advertising Law's absolute terms (held for review)
and plain gambling, fraud and illegal-finance terms (refused), with a few anti-fraud phrases
whitelisted so that warnings about them still go out. Operators extend it with
`python server.py words import`.
"""
import re
import time
import unicodedata
import uuid

from alembic import op
import sqlalchemy as sa


revision = "compliance_0001"
down_revision = "0001"
branch_labels = ("compliance",)
depends_on = None

PLATFORM = "platform"
DEFAULT_CATEGORIES = {
    # name: (action, description, words)
    "absolute_terms": (
        "review",
        "Advertising Law art. 9: absolute terms (国家级, 最高级, 最佳…) in advertising",
        ["国家级", "世界级", "最高级", "最佳", "最低价", "全网最低", "史上最低", "第一品牌", "全国第一",
         "销量第一", "顶级", "极品", "独一无二", "绝无仅有"],
    ),
    "gambling": (
        "block",
        "Gambling and lotteries not run by the state",
        ["赌博", "赌场", "博彩", "百家乐", "六合彩", "时时彩", "老虎机", "真人荷官", "网上娱乐城", "澳门赌场"],
    ),
    "fraud": (
        "block",
        "Fraud: fake orders, invoices and documents for sale",
        ["刷单", "代开发票", "代开增值税发票", "办理假证", "信用卡套现", "解封微信", "跑分", "高仿证件"],
    ),
    "illegal_finance": (
        "block",
        "Illegal finance: usurious and predatory loans, illegal fund-raising, promised returns",
        ["高利贷", "套路贷", "裸贷", "校园贷", "非法集资", "稳赚不赔", "保本高收益", "内幕消息荐股", "原始股认购"],
    ),
}
# Warnings about the listed words must still reach people.
DEFAULT_ALLOWED = ["谨防刷单", "警惕刷单", "远离赌博", "禁止赌博", "谨防套路贷", "远离校园贷", "打击非法集资"]
# Keys holding every scope gain `reviews` (and `compliance`, whichever of this branch and the
# send rules' comes first).
FULL_SCOPES_BEFORE = ("cards channels keys messages templates webhooks", "cards channels compliance keys messages templates webhooks")
FULL_SCOPES_AFTER = "cards channels compliance keys messages reviews templates webhooks"


def _norm(text):
    # compliance.normalise as it was when this list was written (a migration keeps its own copy).
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).casefold())


def upgrade() -> None:
    op.create_table(
        "compliance_categories",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_categories")),
    )
    op.create_index("uq_compliance_categories_scope_name", "compliance_categories", ["scope", "name"], unique=True)
    op.create_table(
        "compliance_words",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("term", sa.String(length=200), nullable=False),
        sa.Column("norm", sa.String(length=200), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_words")),
    )
    op.create_index("uq_compliance_words_scope_kind_norm", "compliance_words", ["scope", "kind", "norm"], unique=True)
    op.create_index("ix_compliance_words_scope_id", "compliance_words", ["scope", "id"])
    op.create_table(
        "compliance_versions",
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_compliance_versions")),
    )
    op.create_table(
        "compliance_policies",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("template_review", sa.String(length=16), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_compliance_policies_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_compliance_policies")),
    )
    op.create_table(
        "review_items",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("matches_enc", sa.LargeBinary(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("decided_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_review_items_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_items")),
    )
    op.create_index("ix_review_items_tenant_state", "review_items", ["tenant_id", "state", "id"])
    op.create_index("ix_review_items_tenant_kind", "review_items", ["tenant_id", "kind", "id"])
    op.create_index("ix_review_items_subject", "review_items", ["kind", "subject"])
    op.create_table(
        "review_events",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("review_id", sa.String(length=32), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "seq", name=op.f("pk_review_events")),
    )
    op.create_index("ix_review_events_review_id", "review_events", ["review_id"])

    now = int(time.time() * 1000)
    categories = sa.table(
        "compliance_categories",
        *(sa.column(c) for c in ("id", "scope", "name", "action", "description", "created_ms", "updated_ms")),
    )
    words = sa.table("compliance_words", *(sa.column(c) for c in ("id", "scope", "kind", "category", "term", "norm", "created_ms")))
    op.bulk_insert(
        categories,
        [
            {"id": uuid.uuid4().hex, "scope": PLATFORM, "name": name, "action": action, "description": text,
             "created_ms": now, "updated_ms": now}
            for name, (action, text, _) in DEFAULT_CATEGORIES.items()
        ],
    )
    rows = [
        {"id": uuid.uuid4().hex, "scope": PLATFORM, "kind": "word", "category": name, "term": term,
         "norm": _norm(term), "created_ms": now}
        for name, (_, _, terms) in DEFAULT_CATEGORIES.items()
        for term in terms
    ]
    rows += [
        {"id": uuid.uuid4().hex, "scope": PLATFORM, "kind": "allow", "category": None, "term": term,
         "norm": _norm(term), "created_ms": now}
        for term in DEFAULT_ALLOWED
    ]
    op.bulk_insert(words, rows)
    op.bulk_insert(
        sa.table("compliance_versions", sa.column("scope"), sa.column("version"), sa.column("updated_ms")),
        [{"scope": PLATFORM, "version": 1, "updated_ms": now}],
    )
    before = ", ".join(f"'{s}'" for s in FULL_SCOPES_BEFORE)
    op.execute(f"UPDATE api_keys SET scopes = '{FULL_SCOPES_AFTER}' WHERE scopes IN ({before})")


def downgrade() -> None:
    op.execute(f"UPDATE api_keys SET scopes = '{FULL_SCOPES_BEFORE[1]}' WHERE scopes = '{FULL_SCOPES_AFTER}'")
    op.drop_index("ix_review_events_review_id", table_name="review_events")
    op.drop_table("review_events")
    op.drop_index("ix_review_items_subject", table_name="review_items")
    op.drop_index("ix_review_items_tenant_kind", table_name="review_items")
    op.drop_index("ix_review_items_tenant_state", table_name="review_items")
    op.drop_table("review_items")
    op.drop_table("compliance_policies")
    op.drop_table("compliance_versions")
    op.drop_index("ix_compliance_words_scope_id", table_name="compliance_words")
    op.drop_index("uq_compliance_words_scope_kind_norm", table_name="compliance_words")
    op.drop_table("compliance_words")
    op.drop_index("uq_compliance_categories_scope_name", table_name="compliance_categories")
    op.drop_table("compliance_categories")
