"""Tokens never reach a log: query values and credentials are cut from what is logged."""

from __future__ import annotations

import logging
import re

__all__ = ["WIRE_LOG", "RedactSecrets", "redact"]

# websockets' own log of each connection (request lines and headers, at DEBUG).
WIRE_LOG = logging.getLogger("tourpanel.server.wire")

_QUERY_VALUE = re.compile(r"([?&][^=&#\s]*=)[^&#\s]*")
_CREDENTIALS = re.compile(r"((?:authorization|cookie)\s*:\s*).*", re.IGNORECASE)
_BEARER = re.compile(r"(bearer\s+)[^\s,;\"']+", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` without query values, credentials headers' values or bearer tokens."""
    text = _QUERY_VALUE.sub(r"\1…", text)
    text = _CREDENTIALS.sub(r"\1…", text)
    return _BEARER.sub(r"\1…", text)


class RedactSecrets(logging.Filter):
    """Redacts every record of the logger it is attached to."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        return True


WIRE_LOG.addFilter(RedactSecrets())
