#!/usr/bin/python3
"""Plays a port545 room (or one participant) by WHEP with GStreamer's webrtcbin and counts what it decodes.

    /usr/bin/python3 examples/gst-whep.py http://127.0.0.1:8545/whep/lobby --seconds 10

Every second it prints a JSON line {"audioBuffers": …, "videoFrames": …} with the decoded audio
buffers and video frames so far, and a last one with "final": true. --show opens a window and plays the
sound instead of only counting. The offer uses the max-bundle policy, so its second m-line is
bundle-only (port 0, a=bundle-only, RFC 9143 §7).
"""

import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the examples
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gst_webrtc import GLib, Gst, GstWebRTC, WhipWhepClient, common_arguments, log, start  # noqa: E402

VIDEO_CAPS = {
    "VP8": "application/x-rtp,media=video,encoding-name=VP8,clock-rate=90000,payload=96",
    "H264": "application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload=102,"
    "packetization-mode=(string)1,profile-level-id=(string)42e01f",
}
AUDIO_CAPS = "application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload=111"


class Player:
    def __init__(self, pipeline, show):
        self.pipeline = pipeline
        self.show = show
        self.counts = {"audioBuffers": 0, "videoFrames": 0}

    def on_pad_added(self, _webrtc, pad):
        if pad.direction != Gst.PadDirection.SRC:
            return
        decodebin = Gst.ElementFactory.make("decodebin")
        decodebin.connect("pad-added", self.on_decoded_pad)
        self.pipeline.add(decodebin)
        decodebin.sync_state_with_parent()
        pad.link(decodebin.get_static_pad("sink"))

    def on_decoded_pad(self, _decodebin, pad):
        caps = pad.get_current_caps() or pad.query_caps(None)
        kind = caps.get_structure(0).get_name().split("/")[0]
        if kind not in ("audio", "video"):
            return
        key = "audioBuffers" if kind == "audio" else "videoFrames"
        if self.show:
            description = "queue ! audioconvert ! audioresample ! autoaudiosink" if kind == "audio" else (
                "queue ! videoconvert ! autovideosink"
            )
        else:
            description = "queue ! fakesink sync=false"
        sink = Gst.parse_bin_from_description(description, True)
        self.pipeline.add(sink)
        sink.sync_state_with_parent()
        pad.link(sink.get_static_pad("sink"))
        pad.add_probe(Gst.PadProbeType.BUFFER, self.count, key)

    def count(self, _pad, _info, key):
        self.counts[key] += 1
        return Gst.PadProbeReturn.OK

    def report(self, final=False):
        line = dict(self.counts)
        if final:
            line["final"] = True
        print(json.dumps(line), flush=True)
        return GLib.SOURCE_CONTINUE


def main():
    parser = common_arguments(__doc__.splitlines()[0])
    parser.add_argument("--video-codec", choices=sorted(VIDEO_CAPS), default="VP8", help="default VP8")
    parser.add_argument("--no-audio", action="store_true", help="offer video only")
    parser.add_argument("--show", action="store_true", help="show the picture and play the sound")
    args = parser.parse_args()
    start()
    pipeline = Gst.Pipeline.new()
    webrtc = Gst.ElementFactory.make("webrtcbin", "webrtc")
    webrtc.set_property("bundle-policy", GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE)
    pipeline.add(webrtc)
    player = Player(pipeline, args.show)
    webrtc.connect("pad-added", player.on_pad_added)
    recvonly = GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY
    webrtc.emit("add-transceiver", recvonly, Gst.Caps.from_string(VIDEO_CAPS[args.video_codec]))
    if not args.no_audio:
        webrtc.emit("add-transceiver", recvonly, Gst.Caps.from_string(AUDIO_CAPS))
    client = WhipWhepClient(pipeline, args)
    GLib.timeout_add(1000, player.report)
    code = client.run()
    player.report(final=True)
    log(f"decoded {player.counts['audioBuffers']} audio buffers, {player.counts['videoFrames']} video frames")
    return code


if __name__ == "__main__":
    sys.exit(main())
