from django.http import HttpRequest, JsonResponse
from django.shortcuts import render

from . import health


def healthz(request: HttpRequest) -> JsonResponse:
    checks = health.check_all()
    ok = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if ok else "error", **checks}, status=200 if ok else 503)


def home(request: HttpRequest):
    return render(request, "home.html")
