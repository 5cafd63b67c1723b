import sys
from socket import *

serverHost = '127.0.0.1'
serverPort = int(sys.argv[1]) if len(sys.argv) > 1 else 50009

sockobj = socket(AF_INET, SOCK_STREAM)
sockobj.connect((serverHost, serverPort))

while True:
    print('Digite uma mensagem')
    msg = input()
    sockobj.send(msg.encode())
    data = sockobj.recv(1024)
    print('Server recebeu:', data.decode())

sockobj.close()
