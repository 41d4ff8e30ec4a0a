"""What clients send reaches the log only made harmless.

Tokens are cut out (query values, credentials headers, bearer tokens), and control
characters a client chose (a close reason, a request path) are escaped, so no client
can start a log line of its own or send escape codes to an operator's terminal.
"""

from __future__ import annotations

import logging
import re

__all__ = ["SERVER_LOG", "WIRE_LOG", "SafeRecords", "redact", "redact_url"]

SERVER_LOG = logging.getLogger("tourpanel.server")
# websockets' own log of each connection (request lines and headers, at DEBUG).
WIRE_LOG = logging.getLogger("tourpanel.server.wire")

_QUERY_VALUE = re.compile(r"([?&][^=&#\s]*=)[^&#\s]*")
_CREDENTIALS = re.compile(r"((?:authorization|cookie)\s*:\s*).*", re.IGNORECASE)
_BEARER = re.compile(r"(bearer\s+)[^\s,;\"']+", re.IGNORECASE)
_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@/\s]*@")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def redact(text: str) -> str:
    """``text`` without query values, credentials headers' values or bearer tokens."""
    text = _QUERY_VALUE.sub(r"\1…", text)
    text = _CREDENTIALS.sub(r"\1…", text)
    text = _PASSWORD.sub(r"\1…@", text)
    return _BEARER.sub(r"\1…", text)


def redact_url(url: str) -> str:
    """``url`` (a Redis or AMQP address) with its password cut out."""
    return _PASSWORD.sub(r"\1…@", url)


def printable(text: str) -> str:
    """``text`` on one line: each control character as its escape (``\\n``, ``\\x1b``)."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


class SafeRecords(logging.Filter):
    """Redacts and escapes every record of the logger it is attached to.

    A record's traceback (the server's own bugs) is left as it is.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = printable(redact(record.getMessage())), None
        return True


for _logger in (SERVER_LOG, WIRE_LOG):
    _logger.addFilter(SafeRecords())
