from django.contrib import admin
from django.urls import path, re_path
from shop import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("hello/", views.hello),
    path("form/", views.form),
    path("upload/", views.upload),
    path("stream/", views.stream),
    path("download/", views.download),
    path("cookies/", views.cookies),
    re_path(r"^meta/", views.meta),
    path("boom/", views.boom),
    path("wait/", views.wait),
    path("release/", views.release),
    path("slow/", views.slow),
    path("version/", views.version),
    path("pid/", views.pid),
]
