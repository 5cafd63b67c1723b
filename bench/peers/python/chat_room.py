"""Exercise 1 as a room: the class's threaded socket server, every line to every other client."""
import socket
import sys
import threading


def port():
    return int(sys.argv[sys.argv.index("--port") + 1]) if "--port" in sys.argv else 0


clients = {}  # socket -> the lock its writers take
lock = threading.Lock()


def broadcast(sender, data):
    with lock:
        targets = [(c, l) for c, l in clients.items() if c is not sender]
    for c, send_lock in targets:
        # Without it, two senders' sendall calls interleave on one socket.
        with send_lock:
            try:
                c.sendall(data)
            except OSError:
                pass


def serve(conexao, nick):
    # In the room before the welcome, so no line sent after it is missed.
    send_lock = threading.Lock()
    with send_lock:
        with lock:
            clients[conexao] = send_lock
        conexao.sendall(f"* welcome, you are {nick}; /nick NAME renames you, /help lists commands\n".encode())
    pending = b""
    prefix = f"{nick}: ".encode()
    try:
        while True:
            data = conexao.recv(1024)
            if not data:
                break
            pending += data
            *lines, pending = pending.split(b"\n")
            if lines:
                broadcast(conexao, b"".join(prefix + l + b"\n" for l in lines))
    except OSError:
        pass
    with lock:
        clients.pop(conexao, None)
    conexao.close()


def main():
    sockobj = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sockobj.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sockobj.bind(("127.0.0.1", port()))
    sockobj.listen(4096)
    print("listening on %s:%d" % sockobj.getsockname(), flush=True)
    n = 0
    while True:
        conexao, endereco = sockobj.accept()
        n += 1
        threading.Thread(target=serve, args=(conexao, f"guest{n}"), daemon=True).start()


if __name__ == "__main__":
    main()
