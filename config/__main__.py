"""``python -m config``: validate the environment's settings and print the profile (used by scripts/run.sh).

Exits 2 with the reason when the settings cannot run, before anything has touched a database.
"""

import sys

from config import ConfigError, load_settings

try:
    settings = load_settings()
except ConfigError as exc:
    print(f"configuration refused: {exc}", file=sys.stderr)
    sys.exit(2)
print(settings.SHOP_PROFILE)
