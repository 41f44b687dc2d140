"""An HTTPS server standing in for an SMS gateway: Python's http.server wrapped in TLS.

Used as: python3 https_gateway.py HOST PORT CERT KEY OUTFILE
Serves TLS with CERT/KEY on HOST:PORT. Every request is appended to OUTFILE as one JSON
line (method, path, headers, body as text) and answered 200 {"id": "gw-N"}. Prints
"ready" on stdout once it listens.
"""
import http.server
import json
import ssl
import sys


def main():
    host, port, cert, key, out = sys.argv[1:6]
    count = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            count[0] += 1
            with open(out, "a", encoding="utf-8") as f:
                f.write(
                    json.dumps(
                        {
                            "method": self.command,
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body.decode("utf-8", "replace"),
                        }
                    )
                    + "\n"
                )
            answer = json.dumps({"id": "gw-%d" % count[0]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer((host, int(port)), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print("ready", flush=True)
    server.serve_forever()


main()
