"""Site settings, read from environment variables with safe defaults.

No variables at all gives the embedded default: a SQLite file, the in-memory channel layer
and in-process worker threads. ``DATABASE_URL`` and ``REDIS_URL`` scale it out (PostgreSQL,
channels-redis, Celery workers). See README "Configuration".
"""

import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("RUNS_DATA_DIR", BASE_DIR / "var"))


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _secret_key():
    """SECRET_KEY from the environment, else one generated once and kept in DATA_DIR."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "realtime_runs",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "realtime_runs.urls"
ASGI_APPLICATION = "realtime_runs.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Databases: DATABASE_URL (postgres://user@host:5432/name) or a SQLite file in DATA_DIR.
if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.config(conn_max_age=60, conn_health_checks=True)}
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            # RUNS_SQLITE_PATH names another file: the browser tests point the Daphne server
            # they start at pytest's test database with it.
            "NAME": Path(os.environ.get("RUNS_SQLITE_PATH") or DATA_DIR / "db.sqlite3"),
            "OPTIONS": {
                # Worker threads write concurrently: take the write lock at BEGIN and wait
                # for it, instead of failing with "database is locked" on upgrade.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            "TEST": {"NAME": DATA_DIR / "test.sqlite3"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Channels: channels-redis when REDIS_URL is set, else the in-memory layer (one process only).
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 times reads out after 5 s, which cuts the layer's own 5 s blocking
                # read short and drops idle sockets (django/channels_redis#422).
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                # One channel per process (the hub's) carries every event the process gets.
                "capacity": 10_000,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "realtime_runs.realtime.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": 10_000},
        }
    }

# The cache holds the API's rate-limit counters: shared through Redis when there is one.
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }

# Celery (only used by the "celery" executor).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL or "memory://")
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "realtime_runs")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

REALTIME_RUNS = {
    # "inline" (threads in this process) or "celery"; Celery by default once Redis is configured.
    "EXECUTOR": os.environ.get("RUNS_EXECUTOR", "celery" if REDIS_URL else "inline"),
    "INLINE_WORKERS": int(os.environ.get("RUNS_INLINE_WORKERS", "4")),
    "DEMO_TASKS": env_bool("RUNS_DEMO_TASKS", True),
    "TASK_MODULES": env_list("RUNS_TASK_MODULES", ""),
    "PUBLIC_URL": os.environ.get("RUNS_PUBLIC_URL", "http://127.0.0.1:8000"),
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing one
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the app folders too, so a fresh clone works before collectstatic.
WHITENOISE_USE_FINDERS = True

LOGIN_URL = "admin:login"

# A trigger's payload may be 3 MiB (CONTRACT.md §3): let such bodies through to the API, which
# applies its own limits per field. 16 MiB also bounds a whole batch's body.
DATA_UPLOAD_MAX_MEMORY_SIZE = 16 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "realtime_runs.api.authentication.SecretKeyAuthentication",
        "realtime_runs.api.authentication.PublicTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["realtime_runs.api.permissions.IsSecretKeyOrStaff"],
    # JSON only: a form-encoded body would turn payloads into strings without a word.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "realtime_runs.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["realtime_runs.api.throttling.CredentialRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"credential": os.environ.get("RUNS_API_RATE", "1200/min")},
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "realtime_runs API",
    "DESCRIPTION": "Trigger tasks, read runs and update their metadata (Trigger.dev v4 paths).",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "realtime_runs": {
            "handlers": ["console"],
            "level": os.environ.get("RUNS_LOG_LEVEL", "INFO"),
            "propagate": False,  # Daphne's root handler would print each line again
        },
    },
}
