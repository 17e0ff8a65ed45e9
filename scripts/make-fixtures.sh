#!/usr/bin/env bash
# Generates the media fixtures in fixtures/ from ffmpeg's built-in sources (no downloads).
#   fixtures/clip.ivf   VP8, 640x360, 30 fps, 4 s (120 frames), ~800 kbps, keyframe every 30 frames
#   fixtures/clip-180.ivf, clip-720.ivf  the same at 320x180 (~200 kbps) and 1280x720 (~1.5 Mbps)
#   fixtures/clip.opus  Ogg Opus, 48 kHz mono, 20 ms frames, 4 s, amplitude-modulated 440 Hz tone
set -euo pipefail

cd "$(dirname "$0")/.."
FFMPEG="${FFMPEG:-ffmpeg}"
command -v "$FFMPEG" >/dev/null || { echo "ffmpeg not found (set FFMPEG or install ffmpeg)" >&2; exit 1; }
mkdir -p fixtures

# Realtime libvpx settings, no alt-ref (hidden) frames so every IVF frame is a shown frame, and a fixed
# keyframe interval so the loop always restarts on a keyframe. The same picture at three sizes, the
# layers of a simulcast publisher: clip-180.ivf, clip.ivf (360 lines), clip-720.ivf.
vp8() { # size bitrate buffer output
  "$FFMPEG" -hide_banner -loglevel error -y \
    -f lavfi -i "testsrc2=size=$1:rate=30:duration=4" \
    -c:v libvpx -pix_fmt yuv420p -threads 1 \
    -deadline realtime -cpu-used 8 -error-resilient 1 -lag-in-frames 0 -auto-alt-ref 0 \
    -b:v "$2" -minrate "$2" -maxrate "$2" -bufsize "$3" \
    -g 30 -keyint_min 30 -force_key_frames "expr:eq(mod(n,30),0)" \
    -fflags +bitexact -flags:v +bitexact -map_metadata -1 \
    -f ivf "$4"
}
vp8 640x360 800k 400k fixtures/clip.ivf
vp8 320x180 200k 100k fixtures/clip-180.ivf
vp8 1280x720 1500k 750k fixtures/clip-720.ivf

# 440 Hz tone, amplitude modulated at 2 Hz, so decoders have clear energy to measure.
"$FFMPEG" -hide_banner -loglevel error -y \
  -f lavfi -i "aevalsrc=0.5*sin(2*PI*440*t)*(0.6+0.4*sin(2*PI*2*t)):s=48000:c=mono:d=4" \
  -c:a libopus -b:a 48k -frame_duration 20 -application audio -vbr on \
  -fflags +bitexact -flags:a +bitexact -map_metadata -1 \
  -f ogg fixtures/clip.opus

ls -l fixtures/clip*.ivf fixtures/clip.opus
