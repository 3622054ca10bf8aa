# systemd-analyze verifies the unit `hyper systemd install` generates (tests/test_systemd.py).
need_debian_packages systemd
