"""Send one notification through Apprise without letting its target URL out.

Apprise URLs carry their secrets in the URL itself (webhook tokens in the path, passwords,
routing keys). Apprise logs the URL it posts to at DEBUG and requests' exceptions repeat it,
and urllib3 logs the request path. While a notification is sent, a filter on those libraries'
loggers replaces every fragment of the URL in their records with ``[redacted]``; errors this
module returns are built from those redacted records, never from the URL.
"""

import logging
import re
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote as url_quote
from urllib.parse import unquote

REDACTED = "[redacted]"
# Libraries that may log the URL, its path or its host while sending.
_LOGGER_ROOTS = ("apprise", "urllib3", "requests")
# Schemes whose payload is JSON, XML or a form that Apprise can extend with ``:key=value``.
_PAYLOAD_SCHEMES = ("json", "jsons", "xml", "xmls", "form", "forms")


@dataclass(frozen=True)
class SendResult:
    """Whether the receiver accepted the notification; if not, a redacted reason."""

    ok: bool
    error: str = ""


def secret_fragments(url: str) -> tuple[str, ...]:
    """The pieces of ``url`` that must never be printed: the URL and each token in it.

    Every piece between URL punctuation that is six characters or longer (and not a port
    number) counts, in raw and percent-decoded form, longest first. The scheme does not.
    """
    scheme, _, rest = url.partition("://")
    pieces = {url, unquote(url), rest, unquote(rest)}
    for piece in re.split(r"[/:@?&=#+,;]+", rest):
        if len(piece) >= 6 and not piece.isdigit():
            pieces |= {piece, unquote(piece)}
    return tuple(sorted((p for p in pieces if p), key=len, reverse=True))


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every secret fragment replaced."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


class _RedactingFilter(logging.Filter):
    """Rewrites records in place (message, arguments, traceback) and keeps the last warning."""

    def __init__(self, secrets: tuple[str, ...]):
        super().__init__()
        self.secrets = secrets
        self.last_warning = ""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            record.exc_info = None
        record.msg, record.args, record.exc_text = redact(message, self.secrets), (), None
        if record.levelno >= logging.WARNING:
            self.last_warning = record.msg
        return True


@contextmanager
def redacted_logs(secrets: tuple[str, ...]) -> Iterator[_RedactingFilter]:
    """Redact ``secrets`` from the records of Apprise, requests and urllib3 while inside.

    A logger's own filters run before its records reach any handler, its parents' included,
    so filtering the emitting loggers covers every handler (pytest's caplog, Dagster's).
    """
    redactor = _RedactingFilter(secrets)
    names = [
        name
        for name in [*_LOGGER_ROOTS, *logging.root.manager.loggerDict]
        if name.split(".")[0] in _LOGGER_ROOTS
    ]
    loggers = [logging.getLogger(name) for name in dict.fromkeys(names)]
    for logger in loggers:
        logger.addFilter(redactor)
    try:
        yield redactor
    finally:
        for logger in loggers:
            logger.removeFilter(redactor)


def with_notification_id(url: str, notification_id: str) -> str:
    """Add ``notification_id`` to the payload of JSON, XML and form targets.

    Apprise adds a ``:key=value`` URL argument to those payloads; other services get the id in
    the message text only.
    """
    scheme = url.partition("://")[0].lower()
    if scheme not in _PAYLOAD_SCHEMES:
        return url
    base, hash_, fragment = url.partition("#")
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}:notification_id={url_quote(notification_id)}{hash_}{fragment}"


def send(
    url: str, *, title: str, body: str, notify_type: str, notification_id: str, timeout: float
) -> SendResult:
    """Deliver one message to the Apprise ``url``; never raises, never reveals the URL."""
    import apprise  # ~0.3 s with its plugins: only processes that deliver pay for it

    secrets = secret_fragments(url)
    with redacted_logs(secrets) as redactor:
        try:
            target = apprise.Apprise(asset=apprise.AppriseAsset(storage_mode="memory"))
            if not target.add(with_notification_id(url, notification_id)):
                return SendResult(False, "the target is not a valid Apprise URL")
            result = target.notify(body=body, title=title, notify_type=notify_type, timeout=timeout)
        except Exception as exc:  # a plugin bug must not lose the notification or the URL
            return SendResult(False, redact(f"{type(exc).__name__}: {exc}", secrets))
    if result:
        return SendResult(True)
    reason = redactor.last_warning or "the receiver did not accept it"
    return SendResult(False, f"{result.status.name.lower()}: {reason}")
