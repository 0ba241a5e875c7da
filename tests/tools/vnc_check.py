"""Looks at a seat's display the way a viewer would, for tests.

  python3 vnc_check.py security HOST PORT                 the RFB version and security types offered
  python3 vnc_check.py login HOST PORT PASSWORD_FILE      exit 0 when the password is accepted
  python3 vnc_check.py capture HOST PORT PASSWORD_FILE OUT.png [--type TEXT]
                                                          a screenshot, after typing TEXT and Enter
  python3 vnc_check.py read IMAGE.png                     the text on a screenshot (tesseract OCR)
  python3 vnc_check.py shows IMAGE.png TEXT               exit 0 when the screenshot shows TEXT

Passwords are read from a file so that they never appear on a command line or in a log. A display
password opens one session: PASSWORD_FILE may instead be ssh://SERVER/DOMAIN, a fresh password
issued on the server for this connection (root over ssh with $TESTHOSTS_SSH_KEY).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time


def security(host, port):
    with socket.create_connection((host, port), timeout=10) as sock:
        version = sock.recv(12)
        sock.sendall(b'RFB 003.008\n')
        count = sock.recv(1)[0]
        types = list(sock.recv(count)) if count else []
    return {'version': version.decode().strip(), 'security_types': types}


ISSUER = 'python3 /usr/local/lib/thinclient-vdi/display_password.py'


def _password(path):
    if path.startswith('ssh://'):
        server, domain = path[len('ssh://'):].split('/', 1)
        result = subprocess.run(['ssh', '-i', os.environ['TESTHOSTS_SSH_KEY'], '-o', 'StrictHostKeyChecking=no', '-o',
                                 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', 'root@' + server,
                                 '%s %s' % (ISSUER, domain)], capture_output=True, text=True, timeout=60, check=True)
        return result.stdout.strip()
    with open(path, encoding='ascii') as stream:
        return stream.read().strip()


def _client(host, port, password_file):
    from vncdotool import api  # pylint: disable=import-outside-toplevel

    return api, api.connect('%s::%d' % (host, port), password=_password(password_file), timeout=20)


def login(host, port, password_file):
    api, client = _client(host, port, password_file)
    try:
        client.refreshScreen()
    finally:
        client.disconnect()
        api.shutdown()


def capture(host, port, password_file, output, text=None):
    api, client = _client(host, port, password_file)
    try:
        if text:
            for char in text:
                client.keyPress(char)
            client.keyPress('enter')
            time.sleep(1)
        client.captureScreen(output)
    finally:
        client.disconnect()
        api.shutdown()


def read(image):
    """The text on a screenshot, read twice: tesseract's own way (smoothed, its layout analysis) and
    as one block of text at whole pixels. Each misreads what the other gets right: the first cuts a
    full, wide console screen into columns and reads "Cannot" as "Camot"; the second reads a 2 of
    the VGA text font as Z. Every test looks for text that is there, so either reading may find it."""
    from PIL import Image, ImageOps  # pylint: disable=import-outside-toplevel

    picture = ImageOps.invert(Image.open(image).convert('L'))
    readings = []
    for name, scaling, options in (('ocr', Image.LANCZOS, []), ('ocr-block', Image.NEAREST, ['--psm', '6'])):
        scratch = '%s.%s.png' % (image, name)
        picture.resize((picture.width * 2, picture.height * 2), scaling).save(scratch)
        readings.append(subprocess.run(['tesseract', scratch, 'stdout'] + options, capture_output=True, text=True, check=True).stdout)
    return '\n'.join(readings)


# OCR of a console font mistakes 1 for i, l or |, and 0 for o: both sides are folded alike before
# they are compared, which keeps client1 and client2 apart.
CONFUSABLE = str.maketrans({'i': '1', 'l': '1', '|': '1', '!': '1', 'o': '0'})


def fold(text):
    return ' '.join(text.lower().translate(CONFUSABLE).split())


def shows(image, text):
    seen = read(image)
    return fold(text) in fold(seen), seen


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='command', required=True)
    for name in ('security', 'login', 'capture'):
        command = sub.add_parser(name)
        command.add_argument('host')
        command.add_argument('port', type=int)
        if name != 'security':
            command.add_argument('password_file')
        if name == 'capture':
            command.add_argument('output')
            command.add_argument('--type')
    sub.add_parser('read').add_argument('image')
    show = sub.add_parser('shows')
    show.add_argument('image')
    show.add_argument('text')
    args = parser.parse_args()
    if args.command == 'security':
        print(json.dumps(security(args.host, args.port)))
    elif args.command == 'login':
        try:
            login(args.host, args.port, args.password_file)
        except Exception as ex:  # pylint: disable=broad-exception-caught
            sys.exit('login refused: %s' % ex)
    elif args.command == 'capture':
        capture(args.host, args.port, args.password_file, args.output, args.type)
    elif args.command == 'shows':
        found, seen = shows(args.image, args.text)
        print(seen)
        sys.exit(0 if found else 1)
    else:
        print(read(args.image))


if __name__ == '__main__':
    main()
