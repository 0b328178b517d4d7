"""The shop's one configuration object, read from the environment and validated at start.

Profiles:

- ``embedded`` (default): SQLite file under ``var/``, a file-system Celery broker that needs no server,
  manual payments. What ``make run`` starts on a bare machine.
- ``production``: PostgreSQL and Redis required, strong secret key, HTTPS-only cookies.
- ``test``: what the test suite uses; ``DATABASE_URL`` and ``REDIS_URL`` point at real servers.

Every field can be set from an environment variable of the same name (``DATABASE_URL``,
``PAYMENT_GATEWAY``...). ``create_app(config)`` also accepts a mapping of overrides.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config import secret_key
from config.timeouts import MAX_BACKOFF_SECONDS, TASK_TIME_LIMIT

ROOT = Path(__file__).resolve().parent.parent
# Keys that were once published (the source used to carry a fixed embedded one): never accepted again.
PUBLISHED_SECRET_KEYS = frozenset({"embedded-default-not-secret"})
LOOPBACK = "127.0.0.1/32,::1/128"


class ConfigError(RuntimeError):
    """Raised when the configuration cannot run the chosen profile."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    SHOP_PROFILE: Literal["embedded", "production", "test"] = "embedded"
    # Signs sessions and bearer tokens. Unset outside production: a random key made on first start and
    # kept in DATA_DIR/secret_key (mode 0600, config/secret_key.py). Production refuses to start without it.
    SECRET_KEY: str = ""
    DATA_DIR: Path = ROOT / "var"

    # Stores. Empty means "the embedded default for this profile".
    DATABASE_URL: str = ""
    REDIS_URL: str = ""
    CELERY_BROKER_URL: str = ""
    DB_POOL_SIZE: int = Field(default=5, ge=1, le=100)
    # A PostgreSQL streaming replica (hot standby) of DATABASE_URL that exports, the aid totals and the
    # dashboards read from (shop.core.db.reporting). Empty: they read from the primary, as they do while
    # the replica does not answer. Writes and reads that must see the request's own writes never go there.
    DATABASE_REPLICA_URL: str = ""

    # Shop behaviour.
    RESERVATION_MINUTES: int = Field(default=15, ge=1, le=24 * 60)
    # Manual payment (pay at the pickup hall, or by bank transfer) cannot happen within minutes.
    MANUAL_RESERVATION_MINUTES: int = Field(default=48 * 60, ge=1, le=14 * 24 * 60)
    API_TOKEN_TTL_SECONDS: int = Field(default=12 * 3600, ge=60)
    # A web sign-in ends this long after it began at the latest (and a signed cookie is not accepted
    # longer than that after it was last written).
    WEB_SESSION_TTL_SECONDS: int = Field(default=7 * 24 * 3600, ge=300, le=90 * 24 * 3600)
    # Emailed links: a password reset link, and the invitation a new staff member sets a password with.
    PASSWORD_RESET_TTL_SECONDS: int = Field(default=3600, ge=300, le=7 * 24 * 3600)
    INVITATION_TTL_SECONDS: int = Field(default=7 * 24 * 3600, ge=3600, le=30 * 24 * 3600)
    DEFAULT_LOCALE: Literal["zh", "en"] = "zh"
    # The zone of every business date and every time a person reads (shop.core.clock); not the server's.
    SHOP_TIMEZONE: str = "Asia/Shanghai"
    PUBLIC_BASE_URL: str = "http://127.0.0.1:5000"
    MAX_CONTENT_LENGTH: int = Field(default=1024 * 1024, ge=1024)
    # Longest request line (path and query) answered normally; longer is a 414 problem (shop.core.inputs).
    # gunicorn reads lines up to 8190 bytes (config/gunicorn.py), so keep this below that.
    MAX_URL_LENGTH: int = Field(default=4096, ge=256, le=8000)

    # Payments.
    PAYMENT_GATEWAY: Literal["manual", "stripe"] = "manual"
    STRIPE_SECRET_KEY: str = ""
    # The account buyers pay into by bank transfer (manual gateway); shown on the order page with the amount,
    # the order number as the reference and how long the order is held (docs/storefront.md).
    BANK_ACCOUNT_NAME: str = "天津市东丽区消费帮扶服务中心"
    BANK_NAME: str = "中国农业银行天津东丽支行"
    BANK_ACCOUNT_NUMBER: str = "0000 0000 0000 0000 000"
    STRIPE_PUBLISHABLE_KEY: str = ""
    STRIPE_WEBHOOK_SECRET: str = ""
    STRIPE_API_BASE: str = ""
    # Seconds to wait for Stripe (connect, read); a slow call is retried once with the same idempotency key.
    STRIPE_TIMEOUT_SECONDS: float = Field(
        default=10.0, gt=0, le=80
    )  # e.g. http://127.0.0.1:12111 for a local Stripe stand-in

    # Notifications.
    NOTIFY_SENDER: Literal["store", "smtp"] = "store"
    SMTP_URL: str = ""

    # Outbox relay: publish right after commit, sweep what is older than this.
    OUTBOX_STALE_SECONDS: int = Field(default=60, ge=1)
    # A message published but not completed, and not seen by a worker for this long, is sent again (it
    # was lost with a killed worker or a restarted broker). Above the longest retry backoff plus the
    # task time limit (config/celery.py), and above the longest queue wait you expect in a backlog.
    OUTBOX_REDELIVER_SECONDS: int = Field(default=900, ge=1)
    # Every worker writes a heartbeat this often (table worker_heartbeat) and records its name on each
    # message it starts. A worker silent for WORKER_DEAD_AFTER_SECONDS is dead: the sweep sends the
    # messages it held again at once, instead of after OUTBOX_REDELIVER_SECONDS (docs/workers.md).
    WORKER_HEARTBEAT_SECONDS: float = Field(default=10.0, ge=0.1, le=300)
    WORKER_DEAD_AFTER_SECONDS: float = Field(default=45.0, ge=0.5, le=3600)
    # After this many publications without completing, a message is marked failed (queues page).
    OUTBOX_MAX_ATTEMPTS: int = Field(default=10, ge=1, le=1000)
    # After a failed publish, this process leaves new messages to the sweep for this long, so requests
    # do not each wait for a broker connection timeout during an outage.
    OUTBOX_BROKER_PAUSE_SECONDS: float = Field(default=10.0, ge=0, le=600)
    # Completed outbox rows and task failure records are deleted after this many days.
    OUTBOX_RETENTION_DAYS: int = Field(default=14, ge=1)
    # "celery" publishes to the broker; "inline" runs the task in-process after commit (tests, tools).
    OUTBOX_DELIVERY: Literal["celery", "inline"] = "celery"
    CELERY_ALWAYS_EAGER: bool = False
    # Multiplies every beat interval; tests shrink it to see many periods in a few seconds.
    BEAT_INTERVAL_SCALE: float = Field(default=1.0, gt=0, le=100)

    # Fulfilment and hall reports.
    # Test/chaos knob: every fulfilment step that does work sleeps this long inside its transaction, so
    # a crash test can kill a worker mid-batch without guessing. Keep 0 in production.
    FULFILMENT_STEP_DELAY_MS: int = Field(default=0, ge=0, le=60_000)
    # When paid orders queue up, a pick task takes up to this many of them (its own and others whose
    # messages wait) in one transaction, and hands them over in one more. 1 picks one order per task.
    FULFILMENT_BATCH_SIZE: int = Field(default=25, ge=1, le=500)
    # How often the worker folds new aid ledger entries into the per-dimension summaries the officer
    # totals read (task shop.aid.fold). Totals stay exact meanwhile (they add the entries not folded
    # yet); a longer interval only leaves more of them for each request to add.
    AID_FOLD_SECONDS: float = Field(default=5.0, ge=0.5, le=3600)
    # Stripe payments still pending after this many minutes are checked with Stripe (missed webhooks).
    STALE_PAYMENT_MINUTES: int = Field(default=10, ge=1, le=24 * 60)
    # Lots whose best-before date is within this many days are listed in the operators' stock alerts.
    EXPIRING_LOT_DAYS: int = Field(default=7, ge=0, le=365)

    SESSION_COOKIE_SECURE: bool = False

    # Media: product images and certificate scans (shop/media, docs/back-office.md). "local" keeps them
    # under MEDIA_DIR (default DATA_DIR/media); "s3" in an S3-compatible bucket (boto3).
    MEDIA_STORAGE: Literal["local", "s3"] = "local"
    MEDIA_DIR: Path | None = None
    MEDIA_S3_BUCKET: str = ""
    # e.g. http://127.0.0.1:9000 for MinIO; empty for AWS itself. Credentials: boto3's usual chain
    # (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile, an instance role).
    MEDIA_S3_ENDPOINT_URL: str = ""
    MEDIA_S3_REGION: str = ""
    # Where browsers fetch public renditions from (a CDN or the bucket's public address), without the
    # trailing slash; empty: the shop serves them itself under /media/.
    MEDIA_PUBLIC_BASE_URL: str = ""
    # One upload (product image, certificate scan); requests elsewhere keep MAX_CONTENT_LENGTH.
    MEDIA_MAX_UPLOAD_BYTES: int = Field(default=8 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    # One partner platform sales file (CSV or XLSX); read as a stream, never held in memory whole.
    AID_IMPORT_MAX_BYTES: int = Field(default=64 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    # Images with more pixels than this are refused (decompression bombs: a small file, a huge bitmap).
    MEDIA_MAX_PIXELS: int = Field(default=40_000_000, ge=10_000, le=180_000_000)

    # Public catalogue API answers (product list and detail) are kept this many seconds per web process;
    # availability on them may be that stale, checkout still enforces stock. -1: 2 s in production,
    # off elsewhere (tests read their own writes). 0: off.
    CATALOGUE_CACHE_SECONDS: float = Field(default=-1, ge=-1, le=60)
    # A web process keeps what a bearer token's check read (the account row) at most this many seconds,
    # and uses it only while the account's generation in Redis is unchanged: every change of the
    # account (password, role, deactivation, logout) bumps the generation after commit, so it takes
    # effect on the next request; this bounds it when that bump is lost (Redis down). 0: off (every
    # request reads the account). Without REDIS_URL nothing is kept.
    AUTH_CACHE_SECONDS: float = Field(default=5, ge=0, le=60)
    # Placing an order reads the variant with its product, producer and certificates and the pickup
    # hall; a web process keeps them this many seconds. The order's INSERT re-checks price, active
    # flags, certificate and hall, so a stale copy never sells at an old price (it is read again). 0: off.
    ORDER_CATALOGUE_CACHE_SECONDS: float = Field(default=5, ge=0, le=60)

    # Abuse protection (Flask-Limiter). Storage is Redis when REDIS_URL is set, else process memory.
    RATELIMIT_ENABLED: bool = True
    # Requests per client address. A work unit's whole staff may sit behind one office address and sign
    # up and in on the same morning, so these only stop floods; guessing is slowed by the failure
    # budgets below, which count wrong passwords, not requests.
    RATE_LIMIT_AUTH: str = "600/minute;6000/hour"  # sign-in: the sign-in page and /api/v1/auth/token together
    RATE_LIMIT_REGISTER: str = "300/minute;1000/hour"
    RATE_LIMIT_PASSWORD_RESET: str = "30/minute;300/hour"  # reset requests and confirmations
    RATE_LIMIT_PASSWORD_RESET_EMAIL: str = "5/hour"  # reset mails to one address (no mail bombing)
    # Wrong passwords within LOGIN_FAILURE_WINDOW_SECONDS: for one account from one client address (the
    # lockout a stranger elsewhere cannot trigger), for one account from all addresses together (slows
    # guessing spread over many addresses), and for all accounts from one address (slows spraying).
    LOGIN_FAILURE_WINDOW_SECONDS: int = Field(default=900, ge=10, le=24 * 3600)
    LOGIN_MAX_FAILURES_PER_CLIENT: int = Field(default=5, ge=1, le=1000)
    LOGIN_MAX_FAILURES_PER_ACCOUNT: int = Field(default=50, ge=1, le=100_000)
    LOGIN_MAX_FAILURES_PER_ADDRESS: int = Field(default=200, ge=1, le=1_000_000)
    RATE_LIMIT_ORDERS: str = "30/minute"
    RATE_LIMIT_WEBHOOK: str = "600/minute"
    # Wrong pickup codes typed by one operator at one hall (right codes never count): a six-digit code
    # must not be guessable by trying, and a busy counter rarely mistypes more than a few an hour.
    RATE_LIMIT_PICKUP_CODES: str = "10/minute;30/hour"
    # Wrong pickup-card codes per buyer online, or per operator at a hall: card codes carry 80 bits, and
    # the throttle keeps anyone from trying them in turn (right codes never count).
    RATE_LIMIT_CARD_CODES: str = "10/minute;30/hour"
    # Number of proxies in front of the app whose X-Forwarded-For to trust (0 = none).
    PROXY_FIX_X_FOR: int = Field(default=0, ge=0, le=5)

    # /metrics answers only these client addresses or networks (comma-separated; default loopback outside
    # production, nobody in production) or a request with ``Authorization: Bearer <METRICS_TOKEN>``.
    METRICS_ALLOW_FROM: str = ""
    METRICS_TOKEN: str = ""

    # Logs: "json" (one object per line, with request id) or "text". Production defaults to json.
    LOG_FORMAT: Literal["json", "text", ""] = ""
    LOG_LEVEL: str = "INFO"

    @field_validator("SHOP_TIMEZONE")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"SHOP_TIMEZONE {value!r} is not an IANA time zone") from exc
        return value

    @model_validator(mode="after")
    def _fill_profile_defaults(self) -> Settings:
        data_dir = Path(self.DATA_DIR)
        if not self.DATABASE_URL:
            if self.SHOP_PROFILE == "embedded":
                self.DATABASE_URL = f"sqlite:///{data_dir / 'shop.db'}"
            else:
                raise ConfigError(f"DATABASE_URL is required in the {self.SHOP_PROFILE} profile")
        if self.DATABASE_URL.startswith("postgresql://"):
            # psycopg 3 is the driver; accept the plain URL people copy from their provider.
            self.DATABASE_URL = "postgresql+psycopg://" + self.DATABASE_URL.removeprefix("postgresql://")
        if self.DATABASE_REPLICA_URL:
            if self.DATABASE_REPLICA_URL.startswith("postgresql://"):
                self.DATABASE_REPLICA_URL = "postgresql+psycopg://" + self.DATABASE_REPLICA_URL.removeprefix(
                    "postgresql://"
                )
            if self.is_sqlite or not self.DATABASE_REPLICA_URL.startswith("postgresql"):
                raise ConfigError(
                    "DATABASE_REPLICA_URL is a PostgreSQL streaming replica of a PostgreSQL DATABASE_URL; "
                    "unset it on SQLite (reports then read the one database)"
                )
        if not self.CELERY_BROKER_URL:
            if self.REDIS_URL:
                self.CELERY_BROKER_URL = self.REDIS_URL
            elif self.SHOP_PROFILE == "production":
                raise ConfigError("REDIS_URL (or CELERY_BROKER_URL) is required in the production profile")
            else:
                self.CELERY_BROKER_URL = "filesystem://"
        if not self.LOG_FORMAT:
            self.LOG_FORMAT = "json" if self.SHOP_PROFILE == "production" else "text"
        if self.CATALOGUE_CACHE_SECONDS < 0:
            self.CATALOGUE_CACHE_SECONDS = 2.0 if self.SHOP_PROFILE == "production" else 0.0
        if self.SECRET_KEY in PUBLISHED_SECRET_KEYS:
            raise ConfigError(
                "SECRET_KEY is a published value; unset it (a random one is made) or set your own"
            )
        if not self.METRICS_ALLOW_FROM and self.SHOP_PROFILE != "production":
            self.METRICS_ALLOW_FROM = LOOPBACK
        _ = self.metrics_networks  # validated now, not at the first scrape
        if self.SHOP_PROFILE == "production":
            if len(self.SECRET_KEY) < secret_key.MIN_LENGTH:
                raise ConfigError("production needs SECRET_KEY of at least 32 random characters")
            if self.METRICS_TOKEN and len(self.METRICS_TOKEN) < 24:
                raise ConfigError("METRICS_TOKEN must be at least 24 random characters")
            if not self.SESSION_COOKIE_SECURE:
                raise ConfigError("production needs SESSION_COOKIE_SECURE=true (HTTPS-only cookies)")
        if self.SHOP_PROFILE == "production":
            if self.OUTBOX_REDELIVER_SECONDS <= MAX_BACKOFF_SECONDS + TASK_TIME_LIMIT:
                raise ConfigError(
                    "OUTBOX_REDELIVER_SECONDS must exceed the longest retry backoff plus the task time "
                    f"limit ({MAX_BACKOFF_SECONDS + TASK_TIME_LIMIT} s), or live tasks would be sent twice"
                )
            if self.FULFILMENT_STEP_DELAY_MS:
                raise ConfigError("FULFILMENT_STEP_DELAY_MS is a test knob; keep it 0 in production")
        if self.WORKER_DEAD_AFTER_SECONDS < 3 * self.WORKER_HEARTBEAT_SECONDS:
            raise ConfigError(
                "WORKER_DEAD_AFTER_SECONDS must be at least three WORKER_HEARTBEAT_SECONDS: a worker that "
                "misses one heartbeat (a busy moment, a slow database) is not dead"
            )
        if self.MEDIA_STORAGE == "s3" and not self.MEDIA_S3_BUCKET:
            raise ConfigError("MEDIA_STORAGE=s3 needs MEDIA_S3_BUCKET")
        if self.PAYMENT_GATEWAY == "stripe":
            if not self.STRIPE_SECRET_KEY:
                raise ConfigError("PAYMENT_GATEWAY=stripe needs STRIPE_SECRET_KEY")
            if not self.STRIPE_WEBHOOK_SECRET:
                raise ConfigError("PAYMENT_GATEWAY=stripe needs STRIPE_WEBHOOK_SECRET")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.DATABASE_URL.startswith("sqlite")

    @property
    def media_dir(self) -> Path:
        return Path(self.MEDIA_DIR) if self.MEDIA_DIR else Path(self.DATA_DIR) / "media"

    @property
    def broker_folder(self) -> Path:
        return Path(self.DATA_DIR) / "broker"

    @property
    def metrics_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """The client networks /metrics answers (``METRICS_ALLOW_FROM``)."""
        nets = []
        for part in self.METRICS_ALLOW_FROM.replace(" ", ",").split(","):
            if part.strip():
                try:
                    nets.append(ipaddress.ip_network(part.strip(), strict=False))
                except ValueError as exc:
                    raise ConfigError(f"METRICS_ALLOW_FROM: {part.strip()!r} is not an address") from exc
        return nets

    def ensure_secret_key(self) -> str:
        """The signing key: ``SECRET_KEY``, else the one kept in ``DATA_DIR`` (made on first use)."""
        if not self.SECRET_KEY:
            try:
                self.SECRET_KEY = secret_key.load_or_create(Path(self.DATA_DIR))
            except (OSError, secret_key.SecretKeyFileError) as exc:
                raise ConfigError(f"no SECRET_KEY and none could be kept in DATA_DIR: {exc}") from exc
        return self.SECRET_KEY

    def replica_engine_options(self) -> dict[str, Any]:
        """Engine options for ``DATABASE_REPLICA_URL``: a short connect timeout (a replica that is down
        sends reports to the primary, quickly), and read-only transactions even if the URL names a
        primary by mistake."""
        return {
            "pool_pre_ping": True,
            "pool_size": self.DB_POOL_SIZE,
            "max_overflow": self.DB_POOL_SIZE,
            "connect_args": {"connect_timeout": 2, "options": "-c default_transaction_read_only=on"},
        }

    def flask_config(self) -> dict[str, Any]:
        """Return the Flask/extension settings derived from this configuration."""
        engine_options: dict[str, Any] = {"pool_pre_ping": True}
        if not self.is_sqlite:
            engine_options.update(pool_size=self.DB_POOL_SIZE, max_overflow=self.DB_POOL_SIZE)
            engine_options["connect_args"] = {"connect_timeout": 3}
        else:
            engine_options["connect_args"] = {"timeout": 30}
        return {
            "SECRET_KEY": self.ensure_secret_key(),
            "SQLALCHEMY_DATABASE_URI": self.DATABASE_URL,
            "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
            "MAX_CONTENT_LENGTH": self.MAX_CONTENT_LENGTH,
            "SESSION_COOKIE_SECURE": self.SESSION_COOKIE_SECURE,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            # How long a signed session cookie is accepted after it was last written (shop.accounts.sessions
            # also ends every sign-in WEB_SESSION_TTL_SECONDS after it began).
            "PERMANENT_SESSION_LIFETIME": self.WEB_SESSION_TTL_SECONDS,
            "REMEMBER_COOKIE_SECURE": self.SESSION_COOKIE_SECURE,
            "BABEL_DEFAULT_LOCALE": self.DEFAULT_LOCALE,
            "BABEL_TRANSLATION_DIRECTORIES": str(ROOT / "shop" / "translations"),
            "API_TITLE": "Gangu consumption-aid shop",
            "API_VERSION": "v1",
            "OPENAPI_VERSION": "3.0.3",
            "OPENAPI_URL_PREFIX": "/api/v1",
            "OPENAPI_JSON_PATH": "openapi.json",
            "WTF_CSRF_TIME_LIMIT": None,
            "JSON_SORT_KEYS": False,
            # Always on for the extension; shop.core.limits exempts requests when RATELIMIT_ENABLED is false
            # (Flask-Limiter keeps one global "enabled" flag, which several apps in one process would share).
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": self.REDIS_URL or "memory://",
            # If Redis is unreachable, keep limiting per process in memory rather than fail open or 500.
            "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
            "RATELIMIT_HEADERS_ENABLED": True,
            "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }


def load_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """Read the environment, apply ``overrides`` and validate; raise ConfigError when unusable."""
    try:
        return Settings(**(overrides or {}))
    except ConfigError:
        raise
    except ValueError as exc:  # pydantic's ValidationError wraps our ConfigError
        raise ConfigError(str(exc)) from exc
