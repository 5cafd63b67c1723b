import sys
from socket import *

meuHost = '127.0.0.1'
minhaPort = int(sys.argv[1]) if len(sys.argv) > 1 else 50009

sockobj = socket(AF_INET, SOCK_STREAM)
sockobj.bind((meuHost, minhaPort))
sockobj.listen(1)

while True:
    conexao, endereco = sockobj.accept()
    print('Server conectado por', endereco)

    while True:
        data = conexao.recv(1024)
        print('Cliente enviou:', data.decode())
        resposta = 'Eco=>' + data.decode()
        conexao.send(resposta.encode())

conexao.close()
