"""Exercise 6: the class's Chalice Calc API (same routes and JSON), on http.server."""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def port():
    return int(sys.argv[sys.argv.index("--port") + 1]) if "--port" in sys.argv else 0


ROUTES = {
    "soma": lambda a, b: {"A soma: ": a + b},
    "sub": lambda a, b: {"A subtração:": a - b},
    "mult": lambda a, b: {"A multiplicação": a * b},
    "div": lambda a, b: {"A Divisão": a / b},
}


class Calc(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are written apart

    def do_GET(self):
        parts = self.path.split("/")
        try:
            _, api, op, a, b = parts
            assert api == "api"
            body = json.dumps(ROUTES[op](int(a), int(b))).encode()
            status = 200
        except (ValueError, KeyError, AssertionError, ZeroDivisionError) as e:
            body, status = json.dumps({"Code": "BadRequestError", "Message": str(e)}).encode(), 400
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 4096  # listen backlog (socketserver's default is 5)


def main():
    server = Server(("127.0.0.1", port()), Calc)
    print("listening on %s:%d" % server.server_address, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
