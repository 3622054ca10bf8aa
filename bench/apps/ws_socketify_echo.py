"""socketify (uWebSockets) echo: the native ceiling."""

import sys

from socketify import App

app = App()
app.ws("/echo", {"message": lambda ws, message, opcode: ws.send(message, opcode)})
app.listen(int(sys.argv[1]), lambda config: print("listening", flush=True))
app.run()
