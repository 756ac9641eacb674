"""Local endpoints for the scale benchmarks: N threaded HTTP servers on 127.0.0.1 answering
200 with a small JSON body; prints one port per line, then serves until killed."""
import http.server
import sys
import threading


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), H) for _ in range(int(sys.argv[1]))]
for s in servers:
    print(s.server_address[1], flush=True)
    threading.Thread(target=s.serve_forever, daemon=True).start()
threading.Event().wait()
