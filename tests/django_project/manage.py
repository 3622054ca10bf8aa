#!/usr/bin/env python
"""The test Django project's manage.py (served by runziserver in tests/test_django_bridge.py)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
