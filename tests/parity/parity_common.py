"""Shared parts of the end-to-end parity scripts (tests/parity/).

Standard library only, so the scripts run from any Python 3.8+ without a
venv: the HTTP client for ComfyUI's API (/upload/image, /prompt,
/history/{id}, /view), the workflow cases, the deterministic input images,
a small PNG reader/writer and PSNR.

Nothing here is run by CI; run_comfyui_reference.py talks to a real ComfyUI
(which needs torch) and compare.py to a running comfyd.
"""
import json
import os
import struct
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
INPUTS = os.path.join(DATA, "input")
WORKFLOWS = os.path.join(HERE, "workflows")

CKPT_SD15 = "parity-sd15-full.safetensors"
CKPT_SDXL = "parity-sdxl-full.safetensors"
SEED = 123456789
STEPS = 4
CFG = 7.0
POSITIVE = "a photograph of a red fox sitting in tall grass, golden hour"
NEGATIVE = "blurry, low quality"


# ---------------------------------------------------------------- PNG codec

def png_write(path, width, height, channels, pixels):
    """Writes 8-bit RGB (channels 3) or RGBA (channels 4) rows, filter 0."""
    ctype = {3: 2, 4: 6}[channels]
    stride = width * channels
    raw = bytearray()
    for y in range(height):
        raw.append(0)
        raw += pixels[y * stride:(y + 1) * stride]

    def chunk(tag, body):
        c = struct.pack(">I", len(body)) + tag + body
        return c + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, ctype, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", ihdr))
        f.write(chunk(b"IDAT", zlib.compress(bytes(raw), 9)))
        f.write(chunk(b"IEND", b""))


def png_read(data):
    """Returns (width, height, channels, bytes) of an 8-bit non-interlaced
    grey/RGB/grey-alpha/RGBA PNG; anything else raises ValueError."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, hdr = 8, bytearray(), None
    while pos + 8 <= len(data):
        n, tag = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if tag == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif tag == b"IDAT":
            idat += body
        elif tag == b"IEND":
            break
    if hdr is None:
        raise ValueError("PNG without IHDR")
    w, h, depth, ctype, _, _, interlace = hdr
    chans = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if depth != 8 or chans is None or interlace:
        raise ValueError("unsupported PNG (depth %d, colour type %d, interlace %d)"
                         % (depth, ctype, interlace))
    raw = zlib.decompress(bytes(idat))
    stride = w * chans
    out = bytearray(h * stride)
    prev = bytearray(stride)
    p = 0
    for y in range(h):
        ft = raw[p]
        line = bytearray(raw[p + 1:p + 1 + stride])
        p += 1 + stride
        for i in range(stride):
            a = line[i - chans] if i >= chans else 0
            b = prev[i]
            c = prev[i - chans] if i >= chans else 0
            if ft == 1:
                line[i] = (line[i] + a) & 255
            elif ft == 2:
                line[i] = (line[i] + b) & 255
            elif ft == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 255
            elif ft == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                pr = a if (pa <= pb and pa <= pc) else (b if pb <= pc else c)
                line[i] = (line[i] + pr) & 255
            elif ft != 0:
                raise ValueError("bad PNG filter %d" % ft)
        out[y * stride:(y + 1) * stride] = line
        prev = line
    return w, h, chans, bytes(out)


def psnr(png_a, png_b):
    """PSNR in dB over the RGB samples of two PNGs of the same size
    (inf when identical)."""
    wa, ha, ca, pa = png_read(png_a)
    wb, hb, cb, pb = png_read(png_b)
    if (wa, ha) != (wb, hb):
        raise ValueError("sizes differ: %dx%d vs %dx%d" % (wa, ha, wb, hb))
    se, n = 0, 0
    for i in range(wa * ha):
        for k in range(3):
            x = pa[i * ca + min(k, ca - 1)]
            y = pb[i * cb + min(k, cb - 1)]
            se += (x - y) * (x - y)
            n += 1
    if se == 0:
        return float("inf")
    import math
    return 10.0 * math.log10(255.0 * 255.0 / (se / n))


def make_inputs():
    """Writes the input images (deterministic, no randomness) into data/input:
    parity_in_S.png (RGB) for the img2img cases and parity_inpaint_S.png
    (RGBA; alpha 0 in a centred square, which LoadImage turns into mask 1)."""
    os.makedirs(INPUTS, exist_ok=True)
    for s in (64, 128):
        rgb = bytearray()
        rgba = bytearray()
        for y in range(s):
            for x in range(s):
                r = (x * 255) // (s - 1)
                g = (y * 255) // (s - 1)
                b = 200 if ((x // (s // 8)) + (y // (s // 8))) % 2 else 40
                rgb += bytes((r, g, b))
                hole = s // 4 <= x < 3 * s // 4 and s // 4 <= y < 3 * s // 4
                rgba += bytes((r, g, b, 0 if hole else 255))
        png_write(os.path.join(INPUTS, "parity_in_%d.png" % s), s, s, 3, rgb)
        png_write(os.path.join(INPUTS, "parity_inpaint_%d.png" % s), s, s, 4, rgba)


# ---------------------------------------------------------------- workflows

def _base(ckpt, prefix):
    return {
        "4": {"class_type": "CheckpointLoaderSimple",
              "inputs": {"ckpt_name": ckpt}},
        "6": {"class_type": "CLIPTextEncode",
              "inputs": {"text": POSITIVE, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode",
              "inputs": {"text": NEGATIVE, "clip": ["4", 1]}},
        "8": {"class_type": "VAEDecode",
              "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage",
              "inputs": {"filename_prefix": prefix, "images": ["8", 0]}},
    }


def _ksampler(latent, sampler, scheduler, denoise=1.0, steps=STEPS, cfg=CFG, seed=SEED):
    return {"class_type": "KSampler",
            "inputs": {"seed": seed, "steps": steps, "cfg": cfg,
                       "sampler_name": sampler, "scheduler": scheduler,
                       "denoise": denoise, "model": ["4", 0],
                       "positive": ["6", 0], "negative": ["7", 0],
                       "latent_image": latent}}


def txt2img(name, ckpt, size, sampler, scheduler, seed=SEED):
    wf = _base(ckpt, "parity_" + name)
    wf["5"] = {"class_type": "EmptyLatentImage",
               "inputs": {"width": size, "height": size, "batch_size": 1}}
    wf["3"] = _ksampler(["5", 0], sampler, scheduler, seed=seed)
    return wf


def img2img(name, ckpt, size, sampler, scheduler, denoise):
    wf = _base(ckpt, "parity_" + name)
    wf["10"] = {"class_type": "LoadImage",
                "inputs": {"image": "parity_in_%d.png" % size}}
    wf["11"] = {"class_type": "VAEEncode",
                "inputs": {"pixels": ["10", 0], "vae": ["4", 2]}}
    wf["3"] = _ksampler(["11", 0], sampler, scheduler, denoise)
    return wf


def inpaint(name, ckpt, size, sampler, scheduler, denoise):
    wf = _base(ckpt, "parity_" + name)
    wf["10"] = {"class_type": "LoadImage",
                "inputs": {"image": "parity_inpaint_%d.png" % size}}
    wf["11"] = {"class_type": "VAEEncode",
                "inputs": {"pixels": ["10", 0], "vae": ["4", 2]}}
    wf["12"] = {"class_type": "SetLatentNoiseMask",
                "inputs": {"samples": ["11", 0], "mask": ["10", 1]}}
    wf["3"] = _ksampler(["12", 0], sampler, scheduler, denoise)
    return wf


SAMPLERS = [
    ("euler", "normal"),
    ("euler_ancestral", "normal"),
    ("dpmpp_2m", "karras"),
    ("dpmpp_2m_sde", "karras"),
    ("ddim", "ddim_uniform"),
    ("uni_pc", "simple"),
]


def cases(sdxl=False):
    """Ordered {case name: API-format workflow}."""
    out = {}
    for size in (64, 128):
        for sampler, sched in SAMPLERS:
            n = "sd15_%d_%s_%s" % (size, sampler, sched)
            out[n] = txt2img(n, CKPT_SD15, size, sampler, sched)
        # control: another seed, so the report can say what PSNR two
        # unrelated initial noises give on this random-weight checkpoint
        n = "sd15_%d_euler_normal_seed2" % size
        out[n] = txt2img(n, CKPT_SD15, size, "euler", "normal", SEED + 1)
        n = "sd15_%d_img2img_d060" % size
        out[n] = img2img(n, CKPT_SD15, size, "euler", "normal", 0.6)
        n = "sd15_%d_inpaint_d090" % size
        out[n] = inpaint(n, CKPT_SD15, size, "dpmpp_2m", "karras", 0.9)
    if sdxl:
        for sampler, sched in (("euler", "normal"), ("dpmpp_2m", "karras")):
            n = "sdxl_128_%s_%s" % (sampler, sched)
            out[n] = txt2img(n, CKPT_SDXL, 128, sampler, sched)
    return out


# ---------------------------------------------------------------- HTTP client

class Server:
    def __init__(self, url, timeout=1800.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.client_id = str(uuid.uuid4())

    def _req(self, method, path, body=None, headers=None):
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.read()
        except urllib.error.HTTPError as e:
            raise RuntimeError("%s %s -> %d: %s" % (method, path, e.code,
                                                   e.read()[:2000].decode("utf-8", "replace")))

    def get_json(self, path):
        return json.loads(self._req("GET", path))

    def upload(self, path):
        """POST /upload/image (multipart, overwrite); returns the stored name."""
        boundary = "----parity" + uuid.uuid4().hex
        with open(path, "rb") as f:
            payload = f.read()
        name = os.path.basename(path)
        parts = [
            b"--" + boundary.encode() + b"\r\n",
            b'Content-Disposition: form-data; name="overwrite"\r\n\r\ntrue\r\n',
            b"--" + boundary.encode() + b"\r\n",
            ('Content-Disposition: form-data; name="image"; filename="%s"\r\n'
             % name).encode(),
            b"Content-Type: image/png\r\n\r\n", payload, b"\r\n",
            b"--" + boundary.encode() + b"--\r\n",
        ]
        r = json.loads(self._req("POST", "/upload/image", b"".join(parts),
                                 {"Content-Type": "multipart/form-data; boundary=" + boundary}))
        return r["name"]

    def run(self, workflow):
        """Queues a workflow, waits for its history entry, returns
        (list of PNG bytes of every SaveImage output, seconds)."""
        body = json.dumps({"prompt": workflow, "client_id": self.client_id}).encode()
        t0 = time.monotonic()
        r = json.loads(self._req("POST", "/prompt", body,
                                 {"Content-Type": "application/json"}))
        pid = r["prompt_id"]
        while True:
            h = self.get_json("/history/" + pid)
            if pid in h:
                entry = h[pid]
                break
            if time.monotonic() - t0 > self.timeout:
                raise RuntimeError("prompt %s not done after %.0f s" % (pid, self.timeout))
            time.sleep(0.25)
        secs = time.monotonic() - t0
        status = entry.get("status", {})
        if status.get("status_str") not in (None, "success"):
            msgs = [m for m in status.get("messages", []) if m[0] == "execution_error"]
            raise RuntimeError("prompt %s failed: %s" % (pid, json.dumps(msgs)[:2000]))
        pngs = []
        for node_id in sorted(entry.get("outputs", {})):
            for img in entry["outputs"][node_id].get("images", []):
                q = urllib.parse.urlencode({"filename": img["filename"],
                                            "subfolder": img.get("subfolder", ""),
                                            "type": img.get("type", "output")})
                pngs.append(self._req("GET", "/view?" + q))
        if not pngs:
            raise RuntimeError("prompt %s produced no image" % pid)
        return pngs, secs
