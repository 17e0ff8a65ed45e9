#!/usr/bin/python3
"""Publishes a test picture and tone into a port545 room by WHIP with GStreamer's webrtcbin.

    /usr/bin/python3 examples/gst-whip.py http://127.0.0.1:8545/whip/lobby?name=GStreamer

The offer uses the max-bundle policy, so its audio m-line is bundle-only (port 0, a=bundle-only,
RFC 9143 §7).
"""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the examples
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gst_webrtc import Gst, GstWebRTC, WhipWhepClient, common_arguments, start  # noqa: E402


def main():
    parser = common_arguments(__doc__.splitlines()[0])
    parser.add_argument("--size", default="160x120", help="picture size (default 160x120)")
    parser.add_argument("--fps", type=int, default=15, help="frames per second (default 15)")
    parser.add_argument(
        "--video-codec",
        choices=["VP8", "H264"],
        default="VP8",
        help="VP8 (vp8enc, default) or H264 (openh264enc, constrained baseline)",
    )
    args = parser.parse_args()
    start()
    width, height = args.size.split("x")
    if args.video_codec == "H264":
        encode = (
            f"openh264enc gop-size={args.fps * 2} ! video/x-h264,profile=constrained-baseline ! h264parse ! "
            "rtph264pay config-interval=-1 aggregate-mode=zero-latency ! "
            "application/x-rtp,media=video,encoding-name=H264,payload=102"
        )
    else:
        encode = (
            f"vp8enc deadline=1 keyframe-max-dist={args.fps * 2} ! "
            "rtpvp8pay ! application/x-rtp,media=video,encoding-name=VP8,payload=96"
        )
    pipeline = Gst.parse_launch(
        "webrtcbin name=webrtc bundle-policy=max-bundle "
        f"videotestsrc is-live=true pattern=ball ! video/x-raw,width={width},height={height},"
        f"framerate={args.fps}/1 ! videoconvert ! {encode} ! webrtc. "
        "audiotestsrc is-live=true wave=sine freq=440 ! audioconvert ! audioresample ! opusenc ! "
        "rtpopuspay ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111 ! webrtc. "
    )
    webrtc = pipeline.get_by_name("webrtc")
    for pad in webrtc.sinkpads:
        pad.get_property("transceiver").set_property(
            "direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY
        )
    return WhipWhepClient(pipeline, args).run()


if __name__ == "__main__":
    sys.exit(main())
