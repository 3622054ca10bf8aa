"""request.form: urlencoded and multipart, uploads, spooling, save()."""

import hashlib
import os

from hyperdjango import HyperApp
from hyperdjango.datastructures import UploadedFile

app = HyperApp("forms", max_body_size=20 * 1024 * 1024)
SAVE_DIR = os.environ["SAVE_DIR"]


@app.post("/form")
async def form(request):
    result = {"body_in_memory": request.body_in_memory}
    for name, value in request.form.multi_items():
        if isinstance(value, UploadedFile):
            content = value.read()
            result.setdefault(name, []).append(
                {
                    "filename": value.filename,
                    "content_type": value.content_type,
                    "size": value.size,
                    "sha256": hashlib.sha256(content).hexdigest(),
                    "in_memory": value.in_memory,
                    "spool_path": None if value.in_memory else value.file.name,
                }
            )
        else:
            result.setdefault(name, []).append(value)
    return result


@app.post("/save")
def save(request):
    upload = request.form["file"]
    saved = upload.save(SAVE_DIR)
    return {"saved": os.path.relpath(saved, SAVE_DIR), "safe_filename": upload.safe_filename}


if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "0")))
