"""One transaction over a DB-API connection factory, shared by the warehouse and the ledger."""

from contextlib import contextmanager


@contextmanager
def transaction(connect):
    """Yield a cursor; commit on success, roll back on any error, always close."""
    con = connect()
    try:
        cur = con.cursor()
        yield cur
        con.commit()
    except BaseException:
        con.rollback()
        raise
    finally:
        con.close()
