import sys
import xmlrpc.client

s = xmlrpc.client.ServerProxy('http://localhost:' + (sys.argv[1] if len(sys.argv) > 1 else '8005'))
numero1 = input("1o numero: ")
numero2 = input("2o numero: ")

print('Somar: ', s.add(int(numero1), int(numero2)))
