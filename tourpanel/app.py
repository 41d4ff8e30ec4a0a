"""``panel serve tourpanel/app.py [--args …]``: the live dashboard.

Panel runs this file once per browser session; the feeds and their listeners are
shared per process. Options: ``--args --help``, or ``TOURPANEL_*`` variables.
"""

from __future__ import annotations

import os
import sys

import panel as pn

from tourpanel.config import parse_config
from tourpanel.dashboard import create_dashboard

pn.extension(design="native")

dashboard = create_dashboard(parse_config(sys.argv[1:], os.environ))
dashboard.servable(title=dashboard.labels.title)
