"""The VPS test's window onto the hub: the hub listens on the guest's loopback only, so
doctor on the host reaches it through this TCP relay (guest 10.0.2.15:18443 -> 127.0.0.1:PORT)
and QEMU's hostfwd. Usage: python3 relay.py PORT"""
import socket
import sys
import threading

port = int(sys.argv[1])
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("10.0.2.15", 18443))
listener.listen(64)


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


while True:
    client, _ = listener.accept()
    try:
        upstream = socket.create_connection(("127.0.0.1", port))
    except OSError:
        client.close()
        continue
    threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
    threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
