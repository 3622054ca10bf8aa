"""Views the served Django tests exercise (tests/test_django_bridge.py)."""

import hashlib
import os
import time
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

from . import version as version_module

DOWNLOAD = Path(__file__).parent / "static" / "shop" / "site.css"


def hello(request):
    return JsonResponse({"message": "Hello!"})


def form(request):
    greeting = None
    if request.method == "POST":
        greeting = f"Hello, {request.POST.get('name', '')}!"
    return render(request, "shop/form.html", {"greeting": greeting})


@csrf_exempt
def upload(request):
    upload = request.FILES["file"]
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    return JsonResponse(
        {
            "name": upload.name,
            "size": upload.size,
            "sha256": digest.hexdigest(),
            "title": request.POST.get("title"),
        }
    )


def _signal(name):
    return Path(settings.SIGNAL_DIR) / name


def stream(request):
    """First chunk at once; the rest only once the test creates the 'go' file."""
    key = request.GET.get("key", "stream")

    def chunks():
        yield b"first\n"
        deadline = time.monotonic() + 20
        while not _signal(f"{key}.go").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        for number in range(3):
            time.sleep(0.05)
            yield f"chunk {number}\n".encode()
        _signal(f"{key}.done").write_text("done")

    return StreamingHttpResponse(chunks(), content_type="text/plain")


def download(request):
    return FileResponse(open(DOWNLOAD, "rb"), as_attachment=True, filename="site.css")


def cookies(request):
    response = JsonResponse({"seen": request.COOKIES})
    response.set_cookie("first", "1")
    response.set_cookie("second", "2", httponly=True)
    return response


@csrf_exempt
def meta(request):
    values = {
        key: value
        for key, value in request.META.items()
        if isinstance(value, (str, bool, int, tuple))
    }
    values["body"] = request.body.decode("latin-1")
    values["path_info"] = request.path_info
    return JsonResponse(values)


def boom(request):
    raise RuntimeError("view exploded")


def wait(request):
    """Holds its thread until /release/ (on another thread) creates the file."""
    _signal(f"{request.GET['key']}.waiting").write_text("waiting")  # the test waits for this
    marker = _signal(f"{request.GET['key']}.released")
    deadline = time.monotonic() + 15
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return JsonResponse({"released": marker.exists()})


def release(request):
    _signal(f"{request.GET['key']}.released").write_text("go")
    return JsonResponse({"ok": True})


def slow(request):
    if "key" in request.GET:  # a test waits for this: the request is in the view
        _signal(f"{request.GET['key']}.started").write_text("started")
    time.sleep(float(request.GET.get("seconds", "1")))
    return HttpResponse("slow done")


def version(request):
    return HttpResponse(version_module.VERSION)


def pid(request):
    """Which worker process answered (runziserver --workers N)."""
    return JsonResponse({"pid": os.getpid()})
