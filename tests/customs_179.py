"""A stand-in for customs' 179 upload endpoint (realTimeDataUpload) on 127.0.0.1, shared by the 179
tests: it keeps every ``payExInfoStr`` it is sent (``received``, as sent; ``parsed``, as JSON) and
answers as customs does, after ``delay`` seconds."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class Customs:
    def __init__(self, delay: float = 0.0):
        self.received: list[str] = []
        self.delay = delay
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                form = parse_qs(self.rfile.read(length).decode("utf-8"))
                time.sleep(outer.delay)
                outer.received.append(form["payExInfoStr"][0])
                body = json.dumps({"code": "10000", "message": "上传成功", "total": 0,
                                   "serviceTime": int(time.time() * 1000)}, ensure_ascii=False).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ceb2grab/grab/realTimeDataUpload"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def parsed(self) -> list[dict]:
        return [json.loads(text) for text in self.received]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
