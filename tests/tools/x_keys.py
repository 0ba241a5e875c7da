"""Lists the keys pressed on an X display: each key that goes down as its X keycode and the key
symbol the display's keyboard layout gives it (group 1, level 1).

Run inside a seat's desktop (the lab copies it there through the guest agent), with DISPLAY of the
session to watch; it needs only python3 and libX11, as the desktop image has:

  python3 x_keys.py SECONDS OUTPUT     for SECONDS, OUTPUT gets a "keycode keysym" line as each
                                       key goes down; then it exits

It holds the keyboard meanwhile (a grab on the root window): key events would otherwise go to
whatever window has the focus, and a key pressed and released between two looks at the keyboard's
state is missed.
"""

from __future__ import annotations

import ctypes
import sys
import time

KEY_PRESS = 2
GRAB_MODE_ASYNC = 1
GRAB_SUCCESS = 0
CURRENT_TIME = 0
POLL_SECONDS = 0.05


class KeyEvent(ctypes.Structure):
    """Xlib's XKeyEvent."""
    _fields_ = [('type', ctypes.c_int), ('serial', ctypes.c_ulong), ('send_event', ctypes.c_int), ('display', ctypes.c_void_p),
                ('window', ctypes.c_ulong), ('root', ctypes.c_ulong), ('subwindow', ctypes.c_ulong), ('time', ctypes.c_ulong),
                ('x', ctypes.c_int), ('y', ctypes.c_int), ('x_root', ctypes.c_int), ('y_root', ctypes.c_int),
                ('state', ctypes.c_uint), ('keycode', ctypes.c_uint), ('same_screen', ctypes.c_int)]


class Event(ctypes.Union):
    """Xlib's XEvent: 24 longs, of which a key event is one reading."""
    _fields_ = [('type', ctypes.c_int), ('key', KeyEvent), ('pad', ctypes.c_long * 24)]


def _xlib():
    xlib = ctypes.CDLL('libX11.so.6')
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XDefaultRootWindow.restype = ctypes.c_ulong
    xlib.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    xlib.XGrabKeyboard.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_ulong]
    xlib.XPending.argtypes = [ctypes.c_void_p]
    xlib.XNextEvent.argtypes = [ctypes.c_void_p, ctypes.POINTER(Event)]
    xlib.XkbKeycodeToKeysym.argtypes = [ctypes.c_void_p, ctypes.c_ubyte, ctypes.c_int, ctypes.c_int]
    xlib.XkbKeycodeToKeysym.restype = ctypes.c_ulong
    xlib.XKeysymToString.argtypes = [ctypes.c_ulong]
    xlib.XKeysymToString.restype = ctypes.c_char_p
    return xlib


def keysym_name(xlib, display, keycode):
    name = xlib.XKeysymToString(xlib.XkbKeycodeToKeysym(display, keycode, 0, 0))
    return name.decode() if name else 'NoSymbol'


def watch(seconds, output):
    xlib = _xlib()
    display = xlib.XOpenDisplay(None)
    if not display:
        raise SystemExit('x_keys: cannot open the display (DISPLAY)')
    end = time.monotonic() + seconds
    root = xlib.XDefaultRootWindow(display)
    # A window manager may hold the keyboard for a moment (a shortcut): try again until it lets go.
    while xlib.XGrabKeyboard(display, root, 0, GRAB_MODE_ASYNC, GRAB_MODE_ASYNC, CURRENT_TIME) != GRAB_SUCCESS:
        if time.monotonic() > end:
            raise SystemExit('x_keys: the keyboard is held by another client')
        time.sleep(POLL_SECONDS)
    event = Event()
    with open(output, 'w', encoding='ascii') as out:
        while time.monotonic() < end:
            while xlib.XPending(display):
                xlib.XNextEvent(display, ctypes.byref(event))
                if event.type == KEY_PRESS:
                    out.write('%d %s\n' % (event.key.keycode, keysym_name(xlib, display, event.key.keycode)))
                    out.flush()
            time.sleep(POLL_SECONDS)


if __name__ == '__main__':
    watch(float(sys.argv[1]), sys.argv[2])
