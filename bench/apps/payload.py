"""The ~20 KB JSON document of the compression benchmark (the same bytes for every server)."""

import json

PAYLOAD = {
    "items": [
        {
            "id": index,
            "name": f"item number {index}",
            "price": round(index * 1.25, 2),
            "tags": ["alpha", "beta", "gamma"][: 1 + index % 3],
            "in_stock": index % 2 == 0,
        }
        for index in range(230)
    ]
}
BODY = json.dumps(PAYLOAD, separators=(",", ":")).encode()

if __name__ == "__main__":
    import sys

    sys.stdout.buffer.write(BODY)
