import os
from urllib.parse import urlsplit

import dj_database_url

from .config import BASE_DIR, BATON_DIR, kept_secret, load_dotenv
from .embedded import embedded_database_url

load_dotenv()

SECRET_KEY = kept_secret("secret_key", "DJANGO_SECRET_KEY", 48)
DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1"
BATON_HOST = os.environ.get("BATON_HOST", "127.0.0.1")
BATON_PORT = int(os.environ.get("BATON_PORT", "8000"))
BATON_PUBLIC_URL = os.environ.get("BATON_PUBLIC_URL", f"http://{BATON_HOST}:{BATON_PORT}").rstrip("/")
# Staff websockets check the Origin against these hosts, so "*" is never the default.
ALLOWED_HOSTS = [
    BATON_HOST,
    "localhost",
    "127.0.0.1",
    "[::1]",
    urlsplit(BATON_PUBLIC_URL).hostname or "localhost",
    *[h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h.strip()],
]
CSRF_TRUSTED_ORIGINS = [BATON_PUBLIC_URL]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "deskapp",
    "conversations",
    "memory",
    "knowledge",
    "handoff",
    "orchestration",
    "insights",
    "demostore",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "deskapp.urls"
ASGI_APPLICATION = "deskapp.asgi.application"
WSGI_APPLICATION = None

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

# Database: DATABASE_URL, else the embedded PostgreSQL + pgvector kept under .baton/pgdata.
DATABASE_URL = os.environ.get("DATABASE_URL") or embedded_database_url(BATON_DIR / "pgdata")
# Persistent connections: opening one costs 5-10 ms, which a voice turn cannot afford on every query.
# A server process keeps one per database thread (infra/db.py: a few per process, not one per request).
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=int(os.environ.get("BATON_DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
# Database threads per server process, for websocket connections and again for HTTP requests.
BATON_DB_LANES = int(os.environ.get("BATON_DB_LANES", "2"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Real-time and background work: Redis when REDIS_URL is set, else in-process.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # channels-redis blocks up to 5 s per receive; redis-py 8 also times reads out at 5 s by
            # default, which raced and dropped idle websockets. Reads get a longer deadline.
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
                "capacity": 1500,
                "expiry": 30,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# The cache (e.g. the AI's account sections) is shared by every process when there is a Redis.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL or os.environ.get("BATON_CELERY_EAGER") == "1"
# Without a worker, memory extraction runs on a background thread (off the reply path); "1" runs it inline.
BATON_BACKGROUND_INLINE = os.environ.get("BATON_BACKGROUND_INLINE") == "1"
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A pool process loads the embedding model before its first task (deskapp/celery.py): allow for it.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = 60
CELERY_TASK_IGNORE_RESULT = True
# Celery's Django fixup closes every database connection before and after each task unless told to
# reuse them: a new PostgreSQL backend (and connection set-up) per task. The worker keeps its
# connections as the web processes do instead; deskapp/celery.py closes the old ones around each task
# by Django's rules (CONN_MAX_AGE, errors, health checks), and this number only bounds how many
# tasks run before the fixup closes them all anyway.
CELERY_DB_REUSE_MAX = 10_000
CELERY_TASK_DEFAULT_QUEUE = "celery"
# What a customer waits for (an SMS answer, a reply's delivery) has its own queue, which workers
# take from first ("priority": Redis lists are read in the order the worker names them), so memory
# extraction and summaries never hold up an answer. Workers consume BATON_WORKER_QUEUES.
BATON_CUSTOMER_QUEUE = "customer"
BATON_WORKER_QUEUES = f"{BATON_CUSTOMER_QUEUE},{CELERY_TASK_DEFAULT_QUEUE}"
CELERY_TASK_ROUTES = {
    name: {"queue": BATON_CUSTOMER_QUEUE}
    for name in (
        "conversations.tasks.answer_sms",
        "conversations.tasks.send_sms_reply",
        "conversations.retry_due_deliveries",
        "conversations.answer_waiting_texts",
    )
}
CELERY_BROKER_TRANSPORT_OPTIONS = {"queue_order_strategy": "priority"}
# The worker writes a heartbeat to Redis this often; `/healthz` calls it down past the max age.
BATON_WORKER_HEARTBEAT_SECONDS = float(os.environ.get("BATON_WORKER_HEARTBEAT_SECONDS", "5"))
BATON_WORKER_HEARTBEAT_MAX_AGE_SECONDS = float(os.environ.get("BATON_WORKER_HEARTBEAT_MAX_AGE_SECONDS", "30"))

# Insights: periodic work. With a Celery worker, beat runs these; without Redis, `run` starts
# an in-process scheduler thread (insights/scheduler.py) on the same intervals.
BATON_IDLE_CLOSE_MINUTES = float(os.environ.get("BATON_IDLE_CLOSE_MINUTES", "30"))
BATON_ALERT_INTERVAL_SECONDS = float(os.environ.get("BATON_ALERT_INTERVAL_SECONDS", "60"))
BATON_IDLE_CHECK_SECONDS = float(os.environ.get("BATON_IDLE_CHECK_SECONDS", "300"))
BATON_WAITING_CHECK_SECONDS = float(os.environ.get("BATON_WAITING_CHECK_SECONDS", "60"))
# How often the outbox sends again the messages whose first send did not finish (conversations/delivery.py).
BATON_DELIVERY_RETRY_SECONDS = float(os.environ.get("BATON_DELIVERY_RETRY_SECONDS", "5"))
CELERY_BEAT_SCHEDULE = {
    "conversations-answer-waiting-texts": {
        "task": "conversations.answer_waiting_texts",
        "schedule": BATON_DELIVERY_RETRY_SECONDS,
    },
    "conversations-retry-due-deliveries": {
        "task": "conversations.retry_due_deliveries",
        "schedule": BATON_DELIVERY_RETRY_SECONDS,
    },
    "handoff-check-waiting-conversations": {
        "task": "handoff.check_waiting_conversations",
        "schedule": BATON_WAITING_CHECK_SECONDS,
    },
    "insights-evaluate-alerts": {
        "task": "insights.tasks.evaluate_alerts",
        "schedule": BATON_ALERT_INTERVAL_SECONDS,
    },
    "insights-close-idle-conversations": {
        "task": "insights.tasks.close_idle_conversations",
        "schedule": BATON_IDLE_CHECK_SECONDS,
    },
}
# When set, `/metrics` asks for `Authorization: Bearer <token>` (Prometheus `authorization` config).
BATON_METRICS_TOKEN = os.environ.get("BATON_METRICS_TOKEN", "")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("BATON_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BATON_DIR / "staticfiles"

# Customer chat tokens: signed, scoped to one conversation.
CHAT_TOKEN_MAX_AGE_SECONDS = int(os.environ.get("BATON_CHAT_TOKEN_MAX_AGE", str(24 * 3600)))

# Demo store: an external backend reached over HTTP.
DEMOSTORE_API_TOKEN = kept_secret("demostore_api_token", "DEMOSTORE_API_TOKEN", 24)
# Actions read secrets from named environment variables; a generated token must be there too.
os.environ.setdefault("DEMOSTORE_API_TOKEN", DEMOSTORE_API_TOKEN)
DEMOSTORE_BASE_URL = os.environ.get(
    "DEMOSTORE_BASE_URL", f"http://{BATON_HOST}:{BATON_PORT}/demostore/api"
).rstrip("/")

# Twilio.
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
TWILIO_API_BASE_URL = os.environ.get("TWILIO_API_BASE_URL", "https://api.twilio.com").rstrip("/")
# The number replies are sent from when the customer's own message does not say (desk-initiated SMS).
TWILIO_SMS_FROM = os.environ.get("TWILIO_SMS_FROM", "")
# Voice (ConversationRelay). A use case's greeting, when set, replaces the welcome greeting.
BATON_VOICE = {
    "welcome_greeting": os.environ.get(
        "BATON_VOICE_GREETING", "Hello! You're speaking with the store's AI assistant. How can I help?"
    ),
    "language": os.environ.get("BATON_VOICE_LANGUAGE", "en-US"),
    "tts_provider": os.environ.get("BATON_VOICE_TTS_PROVIDER", "ElevenLabs"),
    "voice": os.environ.get("BATON_VOICE_VOICE", ""),
    "transcription_provider": os.environ.get("BATON_VOICE_TRANSCRIPTION_PROVIDER", "Deepgram"),
    "interruptible": os.environ.get("BATON_VOICE_INTERRUPTIBLE", "any"),
    # Where a handed-off call goes: `enqueue:<queue name>`, `dial:<E.164 number>` or `client:<identity>`.
    "handoff_target": os.environ.get("BATON_VOICE_HANDOFF_TARGET", "enqueue:baton-agents"),
    # Keypad digits become a customer message on `#` or after this many seconds without a key.
    "dtmf_timeout_seconds": float(os.environ.get("BATON_VOICE_DTMF_TIMEOUT", "3")),
    # The handshake signature covers only the fixed relay URL, so a leaked header could be replayed;
    # strict mode also requires the signed per-call token Baton's TwiML passes (a wrong one is always refused).
    "require_call_token": os.environ.get("BATON_VOICE_REQUIRE_CALL_TOKEN", "0") == "1",
}

# Embeddings: the local MiniLM model, or an OpenAI-compatible /embeddings endpoint.
BATON_EMBEDDINGS = {
    "backend": os.environ.get("BATON_EMBEDDINGS_BACKEND", "local"),
    "base_url": os.environ.get("BATON_EMBEDDINGS_BASE_URL", ""),
    "model": os.environ.get("BATON_EMBEDDINGS_MODEL", "text-embedding-3-small"),
    "api_key_env": os.environ.get("BATON_EMBEDDINGS_API_KEY_ENV", "OPENAI_API_KEY"),
    "dimensions": 384,
    # Local model only: int8 dynamic quantisation (3x faster). Changing it needs the observations re-embedded.
    "quantize": os.environ.get("BATON_EMBEDDINGS_QUANTIZE", "1") == "1",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "insights.logs.JsonFormatter"},
    },
    # BATON_LOG_FORMAT=json: one JSON object per line, with conversation ids (insights/logs.py).
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if os.environ.get("BATON_LOG_FORMAT") == "json" else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("BATON_LOG_LEVEL", "INFO")},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "openai": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "django.channels.server": {"level": "WARNING"},
    },
}
