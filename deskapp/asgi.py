import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deskapp.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from deskapp.routing import websocket_urlpatterns  # noqa: E402
from infra.db import DatabaseLanes  # noqa: E402

application = DatabaseLanes(
    ProtocolTypeRouter(
        {
            # Static files are served by the app itself so `make run` needs no web server in front.
            "http": ASGIStaticFilesHandler(django_asgi_app),
            "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
        }
    ),
    settings.BATON_DB_LANES,
)
