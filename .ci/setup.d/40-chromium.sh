# Headless Chromium for the Django admin login test (tests/test_django_bridge.py).
need_debian_packages chromium
