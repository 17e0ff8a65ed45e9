#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need (Debian packages and npm
# dependencies), builds, lints, type-checks and runs every test. `npm test` runs this; so does CI.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests drive: Chromium (browser tests), ffmpeg (decoding what bots receive),
# sipp (the SIP gateway's peer), setpriv (dropping a capability in the port-fallback test).
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
# systemd-analyze checks the systemd unit in deploy/.
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# Clients port545 did not write: baresip (softphone) and GStreamer's webrtcbin (WHIP/WHEP from Python).
command -v baresip >/dev/null 2>&1 || need+=(baresip)
# coturn is the TURN server media goes through when nothing else gets through.
command -v turnserver >/dev/null 2>&1 || need+=(coturn)
# nftables is the NAT and the firewall of the connectivity matrix's router (network namespaces); openssl
# makes the TURN server's certificate there.
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# A real Redis for the cluster tests (nodes register, rooms are placed, a node dies and Redis stops).
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# Poppler reads the whiteboard's PDF export: its pages, and each page as a picture.
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
# espeak-ng speaks the sentence the noise-removal test hears through a hiss.
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
# A PulseAudio server of the test's own takes what Chromium plays (volume for me, at the loudspeaker).
command -v pulseaudio >/dev/null 2>&1 || need+=(pulseaudio)
command -v parec >/dev/null 2>&1 || need+=(pulseaudio-utils)
# Prometheus's own Python client reads /metrics as a Prometheus server would (its text-format parser).
for pkg in python3-gst-1.0 gir1.2-gst-plugins-bad-1.0 gstreamer1.0-nice gstreamer1.0-plugins-base \
  gstreamer1.0-plugins-good gstreamer1.0-plugins-bad python3-prometheus-client; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "The tests need these Debian packages: ${need[*]} (run as root, or install them first)." >&2
    exit 1
  fi
  echo "Installing Debian packages: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# A person in a room for the background-blur test's fake camera: the astronaut portrait (NASA, public
# domain) in Debian's python3-skimage. Only that picture is unpacked from the package, nothing installed.
portrait="${TMPDIR:-/tmp}/port545-test/astronaut.png"
if [ ! -s "$portrait" ]; then
  mkdir -p "$(dirname "$portrait")"
  work=$(mktemp -d)
  (cd "$work" && apt-get download -qq python3-skimage 2>/dev/null || { apt-get update -qq && apt-get download -qq python3-skimage; })
  dpkg-deb --fsys-tarfile "$work"/python3-skimage_*.deb |
    tar -xO ./usr/lib/python3/dist-packages/skimage/data/astronaut.png >"$portrait.partial"
  mv "$portrait.partial" "$portrait"
  rm -rf "$work"
fi

npm ci --no-audit --no-fund
npm run build
npm run lint
npm run typecheck

# One test file at a time: each starts its own servers and media peers, and 2 cores are shared.
shopt -s nullglob
files=(test/*.test.ts test/e2e/*.test.ts)
node --import tsx --test --test-concurrency=1 --test-timeout=300000 "${files[@]}"
