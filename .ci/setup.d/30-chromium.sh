# The hot-reload browser test (tests/test_hot_reload.py) drives headless Chromium.
need_debian_packages chromium
