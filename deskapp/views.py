from django.http import HttpRequest, JsonResponse
from django.shortcuts import render

from . import health


def healthz(request: HttpRequest) -> JsonResponse:
    body, ok = health.report()
    return JsonResponse(body, status=200 if ok else 503)


def home(request: HttpRequest):
    return render(request, "home.html")
