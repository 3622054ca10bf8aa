"""Django app configuration for ``hyperdjango.serving``."""

from django.apps import AppConfig


class ServingConfig(AppConfig):
    name = "hyperdjango.serving"
    label = "hyperdjango_serving"
    verbose_name = "hyperdjango serving"
