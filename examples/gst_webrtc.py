"""What examples/gst-whip.py and examples/gst-whep.py share: a webrtcbin that offers once, POSTs the
offer with every candidate in it to a WHIP or WHEP endpoint (RFC 9725), applies the answer and DELETEs
the session at the end.

Debian 12 / Ubuntu 22.04 or later: apt install python3-gst-1.0 gir1.2-gst-plugins-bad-1.0
gstreamer1.0-nice gstreamer1.0-plugins-good gstreamer1.0-plugins-bad, and run with /usr/bin/python3.
"""

import argparse
import ctypes
import json
import re
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402


def common_arguments(description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("url", help="the endpoint, e.g. http://127.0.0.1:8545/whip/lobby")
    parser.add_argument("--token", help="access token of a server in secured mode (Authorization: Bearer)")
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long (default: when killed)")
    parser.add_argument(
        "--ice-address",
        action="append",
        default=[],
        help="gather ICE candidates on this local address only (repeatable); also turns UPnP and ICE-TCP off",
    )
    return parser


def log(message):
    print(message, file=sys.stderr, flush=True)


def _pointer(obj):
    """The C pointer of a PyGObject object."""
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype = ctypes.c_void_p
    get.argtypes = [ctypes.py_object, ctypes.c_char_p]
    return ctypes.c_void_p(get(obj.__gpointer__, None))


def restrict_ice(webrtc, addresses):
    """
    Makes webrtcbin's libnice agent gather on `addresses` only (nice_agent_add_local_address) and ask no
    router for a UPnP port mapping. libnice otherwise uses every interface except loopback, and Debian's
    is built with UPnP on. The agent is reached through GObject's C API: PyGObject drops the only
    reference to webrtcbin's ICE object when its wrapper goes (GStreamer 1.22), and has no typelib for
    NiceAgent without gir1.2-nice-0.1.
    """
    gobject = ctypes.CDLL("libgobject-2.0.so.0")
    nice = ctypes.CDLL("libnice.so.10")
    nice.nice_address_new.restype = ctypes.c_void_p
    nice.nice_address_set_from_string.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    nice.nice_agent_add_local_address.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    nice.nice_address_free.argtypes = [ctypes.c_void_p]
    ice = ctypes.c_void_p()
    gobject.g_object_get(_pointer(webrtc), b"ice-agent", ctypes.byref(ice), None)
    agent = ctypes.c_void_p()
    gobject.g_object_get(ice, b"agent", ctypes.byref(agent), None)
    gobject.g_object_set(ice, b"ice-tcp", ctypes.c_int(0), None)
    gobject.g_object_set(agent, b"upnp", ctypes.c_int(0), None)
    for address in addresses:
        native = nice.nice_address_new()
        if not nice.nice_address_set_from_string(native, address.encode()):
            raise SystemExit(f"not an IP address: {address}")
        nice.nice_agent_add_local_address(agent, native)
        nice.nice_address_free(native)
    gobject.g_object_unref(agent)
    gobject.g_object_unref(ice)


class WhipWhepClient:
    """Runs `pipeline` (which holds a webrtcbin named `webrtc`) and does the WHIP/WHEP exchange."""

    def __init__(self, pipeline, args):
        self.pipeline = pipeline
        self.args = args
        self.loop = GLib.MainLoop()
        self.webrtc = pipeline.get_by_name("webrtc")
        self.candidates = []
        self.offer = None
        self.posted = False
        self.location = None
        self.exit_code = 0
        if args.ice_address:
            restrict_ice(self.webrtc, args.ice_address)
        self.webrtc.connect("on-negotiation-needed", self._on_negotiation_needed)
        self.webrtc.connect("on-ice-candidate", self._on_ice_candidate)
        self.webrtc.connect("notify::ice-gathering-state", self._on_gathering)
        self.webrtc.connect("notify::connection-state", self._on_connection_state)
        bus = pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", self._on_error)

    def run(self):
        self.pipeline.set_state(Gst.State.PLAYING)
        if self.args.seconds > 0:
            GLib.timeout_add(int(self.args.seconds * 1000), self.stop)
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, 15, self.stop)  # SIGTERM
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, 2, self.stop)  # SIGINT
        self.loop.run()
        self._delete()
        self.pipeline.set_state(Gst.State.NULL)
        return self.exit_code

    def stop(self, code=None):
        if code is not None:
            self.exit_code = code
        self.loop.quit()
        return GLib.SOURCE_REMOVE

    def fail(self, message):
        log(message)
        GLib.idle_add(self.stop, 1)

    def _on_error(self, _bus, message):
        error, debug = message.parse_error()
        self.fail(f"pipeline error: {error.message} ({debug})")

    def _on_connection_state(self, webrtc, _spec):
        state = webrtc.get_property("connection-state")
        log(f"connection {state.value_nick}")
        if state == GstWebRTC.WebRTCPeerConnectionState.FAILED:
            self.fail("the connection failed")

    def _on_negotiation_needed(self, webrtc):
        if self.offer is None:
            webrtc.emit("create-offer", None, Gst.Promise.new_with_change_func(self._on_offer_created, None))

    def _on_offer_created(self, promise, _data):
        promise.wait()
        # The offer belongs to the reply, which goes with the promise: its text is kept, not it.
        reply = promise.get_reply()
        offer = reply.get_value("offer")
        self.offer = offer.sdp.as_text()
        self.webrtc.emit("set-local-description", offer, Gst.Promise.new())

    def _on_ice_candidate(self, _webrtc, mline, candidate):
        self.candidates.append((mline, candidate))

    def _on_gathering(self, webrtc, _spec):
        if webrtc.get_property("ice-gathering-state") == GstWebRTC.WebRTCICEGatheringState.COMPLETE:
            # The POST blocks; webrtcbin's thread must not.
            threading.Thread(target=self._post, daemon=True).start()

    def _offer_with_candidates(self):
        """The offer with the gathered candidates in their m-sections: no trickle, one request."""
        sections = re.split(r"\r\n(?=m=)", self.offer.rstrip("\r\n"))
        for mline, candidate in self.candidates:
            if mline + 1 < len(sections):
                sections[mline + 1] += f"\r\na={candidate}"
        return "\r\n".join(sections) + "\r\n"

    def _post(self):
        if self.posted:
            return
        self.posted = True
        headers = {"Content-Type": "application/sdp"}
        if self.args.token:
            headers["Authorization"] = f"Bearer {self.args.token}"
        body = self._offer_with_candidates().encode()
        request = urllib.request.Request(self.args.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                answer = response.read().decode()
                location = response.headers.get("Location")
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            print(json.dumps({"status": error.code, "body": detail}), flush=True)
            self.fail(f"the server refused the offer: {error.code} {detail}")
            return
        except OSError as error:
            self.fail(f"cannot reach {self.args.url}: {error}")
            return
        self.location = urllib.parse.urljoin(self.args.url, location) if location else None
        log(f"answered; session {self.location}")
        _, message = GstSdp.SDPMessage.new_from_text(answer)
        description = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, message)
        self.webrtc.emit("set-remote-description", description, Gst.Promise.new())

    def _delete(self):
        """Ends the session on the server (RFC 9725 §4.4)."""
        if not self.location:
            return
        try:
            urllib.request.urlopen(urllib.request.Request(self.location, method="DELETE"), timeout=5).close()
        except OSError as error:
            log(f"DELETE {self.location}: {error}")


def start():
    Gst.init(None)
