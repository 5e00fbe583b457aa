"""The base of SQLModel table classes: declared on the one `store.metadata` (through a registry
of its own, since SQLModel's default registry keeps a MetaData alembic never reads), so alembic
and the group-commit writer see them like every Core table; `Model.__table__` serves Core
statements on the hot paths."""

from sqlalchemy.orm import registry
from sqlmodel import SQLModel

from store.tables import metadata


class Model(SQLModel, registry=registry(metadata=metadata)):
    """Inherit with `table=True` to declare a table."""
