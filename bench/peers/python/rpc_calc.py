"""Exercise 4: the class's SimpleXMLRPCServer calculator (add, sub, mult, div, pow)."""
import sys
from socketserver import ThreadingMixIn
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer


def port():
    return int(sys.argv[sys.argv.index("--port") + 1]) if "--port" in sys.argv else 0


class RequestHandler(SimpleXMLRPCRequestHandler):
    rpc_paths = ("/RPC2",)
    protocol_version = "HTTP/1.1"  # keep-alive, as every other server here
    disable_nagle_algorithm = True  # headers and body are written apart


class Server(ThreadingMixIn, SimpleXMLRPCServer):
    daemon_threads = True
    request_queue_size = 4096  # listen backlog (socketserver's default is 5)


def main():
    with Server(("127.0.0.1", port()), requestHandler=RequestHandler, logRequests=False) as server:
        server.register_introspection_functions()
        server.register_function(lambda x, y: x + y, "add")
        server.register_function(lambda x, y: x - y, "sub")
        server.register_function(lambda x, y: x * y, "mult")
        server.register_function(lambda x, y: x / y, "div")
        server.register_function(lambda x, y: x**y, "pow")
        print("listening on %s:%d" % server.server_address, flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
