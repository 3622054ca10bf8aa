# curl is one of the real clients the served tests talk to (tests/test_curl.py).
need_debian_packages curl
