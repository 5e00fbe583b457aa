"""The one MetaData every domain declares its tables on (alembic reads it)."""

from sqlalchemy import MetaData, Table

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


_order: tuple[int, list[Table]] = (-1, [])


def table_order() -> list[Table]:
    """Every table, parents before children. MetaData.sorted_tables sorts anew on each access;
    the group writer needs the order on every commit, so it is kept until a table is added."""
    global _order
    if _order[0] != len(metadata.tables):
        _order = (len(metadata.tables), metadata.sorted_tables)
    return _order[1]
