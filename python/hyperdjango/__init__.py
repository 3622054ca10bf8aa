"""hyperdjango: a Python web framework on a native (Rust) HTTP/1.1 server.

>>> from hyperdjango import HyperApp
>>> app = HyperApp("myapp")
>>> @app.get("/")
... async def index(request):
...     return {"message": "Hello!"}
"""

from . import _hyperdjango_native as _native
from .app import HyperApp
from .datastructures import FormData, Headers, QueryDict, UploadedFile
from .exceptions import DisallowedRedirect, HTTPException
from .response import Response

Request = _native.Request

_native._install_helpers(Headers, QueryDict, HTTPException, Response, FormData, UploadedFile)

__all__ = [
    "HyperApp",
    "Request",
    "Response",
    "HTTPException",
    "DisallowedRedirect",
    "Headers",
    "QueryDict",
    "FormData",
    "UploadedFile",
]
__version__ = _native.__version__
