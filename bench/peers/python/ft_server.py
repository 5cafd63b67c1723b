"""Exercise 5: the class's file server: sends the file in 16 KiB chunks and closes."""
import socket
import sys


def arg(name, default=None):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def main():
    path = arg("--file")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(arg("--port", "0"))))
    s.listen(5)
    print("listening on %s:%d" % s.getsockname(), flush=True)
    while True:
        conn, addr = s.accept()
        with open(path, "rb") as f:
            while True:
                data = f.read(1024 * 16)
                if not data:
                    break
                conn.sendall(data)
        conn.close()


if __name__ == "__main__":
    main()
