"""``hyperdjango.serving``: a Django app that adds ``manage.py runziserver``.

Add ``"hyperdjango.serving"`` to ``INSTALLED_APPS``, then::

    python manage.py runziserver 0.0.0.0:8000

serves the project's ``WSGI_APPLICATION`` on hyperdjango's native server (see
``docs/django.md``).
"""
