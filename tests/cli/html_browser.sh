#!/bin/bash
# The HTML report in a real browser (issue 4): headless Chromium loads the
# self-contained page from a file (no network) and the DOM it builds holds
# the SVG charts with their bars and lines; a screenshot is not blank.
# Skips with a message when Chromium is absent.
set -u
source "$(dirname "$0")/../lib/cli.bash"

CHROME=
for c in chromium chromium-browser google-chrome; do
	if command -v "$c" >/dev/null; then
		CHROME=$c
		break
	fi
done
if [ -z "$CHROME" ]; then
	echo "SKIP: chromium not installed (apt-get install chromium); the HTML report was not rendered"
	exit 0
fi
command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 0; }

# Two inputs and three strategies plus ideal: 8 bars per bar chart, 4 lines per input.
"$E" compare --guest-size 2G --vcpus 2 --ops 4000 --seed 3 --strategies full,list,seed-v2 \
	--html "$T/report.html" --json "$T/report.json" -q boot workload:shadow >"$T/compare.out" 2>&1 ||
	{ echo "FAIL: compare exited $?: $(head -5 "$T/compare.out")" >&2; exit 1; }
# Everything the page needs is in the file: nothing to fetch.
grep -Eq '(src|href)=|@import|url\(' "$T/report.html" && fail "the report references external resources"

chrome() {
	# Flags keep Chromium off the network and out of the user's profile.
	timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--disable-dev-shm-usage --user-data-dir="$T/profile" "$@" 2>>"$T/chrome.err"
}

chrome --dump-dom "file://$T/report.html" >"$T/dom.html"
if [ ! -s "$T/dom.html" ]; then
	echo "FAIL: chromium produced no DOM: $(tail -5 "$T/chrome.err")" >&2
	exit 1
fi

# The serialized DOM is what the browser built: parse it and count.
python3 - "$T/dom.html" "$T/report.json" <<'PY' || fail "the charts in the browser's DOM"
import json, sys
from html.parser import HTMLParser

dom = open(sys.argv[1], encoding="utf-8").read()
doc = json.load(open(sys.argv[2]))
nres = len(doc["results"])

class P(HTMLParser):
    def __init__(self):
        super().__init__()
        self.svg = None            # id of the chart svg we are in
        self.bars = {}             # chart id -> bars
        self.lines = {}            # chart id -> polylines with points
        self.texts = 0
        self.widths = {}
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg" and "chart" in a.get("class", ""):
            self.svg = a.get("id")
            self.bars.setdefault(self.svg, 0)
            self.lines.setdefault(self.svg, 0)
        elif tag == "rect" and a.get("class") == "bar" and self.svg:
            self.bars[self.svg] += 1
            self.widths.setdefault(self.svg, []).append(float(a["width"]))
        elif tag == "polyline" and a.get("class") == "series" and self.svg:
            if len(a.get("points", "").split()) >= 2:
                self.lines[self.svg] += 1
        elif tag == "text" and self.svg:
            self.texts += 1
    def handle_endtag(self, tag):
        if tag == "svg":
            self.svg = None

p = P()
p.feed(dom)
errs = []
for cid in ("chart-cycles", "chart-invalidations"):
    if p.bars.get(cid) != nres:
        errs.append("%s: %s bars, want %d" % (cid, p.bars.get(cid), nres))
    elif max(p.widths[cid]) <= 0:
        errs.append("%s: every bar has zero width" % cid)
for i, inp in enumerate(doc["inputs"]):
    cid = "chart-flushes-%d" % i
    want = sum(1 for r in doc["results"] if r["input"] == inp["name"])
    if p.lines.get(cid) != want:
        errs.append("%s: %s lines, want %d" % (cid, p.lines.get(cid), want))
if p.texts < 20:
    errs.append("only %d text labels in the charts" % p.texts)
if 'id="results"' not in dom or 'id="cost-model"' not in dom:
    errs.append("the results or cost-model table is missing")
for e in errs:
    print(e)
sys.exit(1 if errs else 0)
PY

# A screenshot: the page paints, and not as one flat colour.
chrome --screenshot="$T/shot.png" --window-size=1200,2400 "file://$T/report.html" >/dev/null
if [ -s "$T/shot.png" ]; then
	python3 - "$T/shot.png" <<'PY' || fail "the screenshot looks blank"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, w, h = 8, b"", 0, 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw = zlib.decompress(idat)
# distinct byte values across the image: a blank page has one or two
distinct = len(set(raw[::97]))
assert w >= 800 and h >= 600, (w, h)
assert distinct > 8, "only %d distinct byte values" % distinct
PY
else
	fail "chromium wrote no screenshot: $(tail -3 "$T/chrome.err")"
fi

if [ $failures -ne 0 ]; then
	echo "html_browser.sh: $failures failure(s)" >&2
	exit 1
fi
echo "html_browser.sh: the charts are drawn in $CHROME"
