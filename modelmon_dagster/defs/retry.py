"""Which failures of a warehouse step the retry policy may rerun.

The steps that write the warehouse carry the ``RetryPolicy`` of config ``warehouse_retry``.
Dagster's policy reruns a step whatever it raised, so a SQL error or a bug in our code, which
fails the same way every time, used to be rerun three times and fail 35 s later. The steps'
bodies therefore go through :func:`retry_only_connection_failures`: a connection failure reaches
the policy unchanged; any other error becomes ``dg.Failure(allow_retries=False)`` raised from it,
so the step fails at once and the event keeps the original error, message and traceback, as its
cause.

Connection failures (anywhere in the exception's chain, as Python prints it):

* SQLAlchemy: an error whose connection was invalidated (the dialect recognised a disconnect),
  ``DisconnectionError``, a pool ``TimeoutError``;
* PostgreSQL (psycopg 3 and psycopg2): every DB-API ``OperationalError``, the category PEP 249
  gives failures outside the program's control: the server closed the connection, terminated it
  or is restarting, too many connections, a deadlock or serialization failure;
* DuckDB: ``ConnectionException``, ``TransactionException`` (a write-write conflict) and the IO
  error "Could not set lock on file" (another process holds the file). Other DuckDB IO errors
  (a missing or unreadable file, a full disk) fail at once: a retry would meet them again;
* Python's ``ConnectionError`` (a reset or refused socket).
"""

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterator

import dagster as dg
import duckdb
import psycopg
import psycopg2
import sqlalchemy.exc as sa_exc

_POSTGRES_OPERATIONAL = (psycopg.OperationalError, psycopg2.OperationalError)
_DUCKDB_TRANSIENT = (duckdb.ConnectionException, duckdb.TransactionException)
_DUCKDB_LOCK = "Could not set lock on file"
# Raised by Dagster itself (or by us to steer it): passed through untouched.
_DAGSTER_CONTROL = (dg.Failure, dg.RetryRequested, dg.DagsterError)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, the DB-API error a SQLAlchemy error wraps, and its causes and contexts."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo.append(getattr(e, "orig", None))
        todo.append(e.__cause__)
        if not e.__suppress_context__:
            todo.append(e.__context__)


def _is_connection_failure_alone(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.DisconnectionError | sa_exc.TimeoutError | ConnectionError):
        return True
    if isinstance(exc, _POSTGRES_OPERATIONAL + _DUCKDB_TRANSIENT):
        return True
    return isinstance(exc, duckdb.IOException) and _DUCKDB_LOCK in str(exc)


def is_connection_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error in its chain) is a connection-level failure worth a retry."""
    return any(_is_connection_failure_alone(e) for e in _chain(exc))


@contextlib.contextmanager
def _failing_at_once_unless_connection_failure():
    try:
        yield
    except _DAGSTER_CONTROL:
        raise
    except Exception as exc:
        if is_connection_failure(exc):
            raise
        raise dg.Failure(
            description=f"{type(exc).__name__}: {exc}\n(not a connection failure: not retried)",
            allow_retries=False,
        ) from exc


def retry_only_connection_failures(fn: Callable) -> Callable:
    """Wrap a step's compute function (plain or generator) as the module docstring says."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator(*args, **kwargs):
            with _failing_at_once_unless_connection_failure():
                yield from fn(*args, **kwargs)

        return generator

    @functools.wraps(fn)
    def function(*args, **kwargs):
        with _failing_at_once_unless_connection_failure():
            return fn(*args, **kwargs)

    return function
