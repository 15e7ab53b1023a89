"""/view, /view_metadata and uploads (spec §1.6-1.9, checklist 108-129, 139)."""
import json
import os
import struct

import requests

from conftest import minimal_prompt, run
from pngutil import make_png, read_png, solid_png


def saved(server, ws_client):
    c = ws_client()
    pid, _ = run(server, c, minimal_prompt("view", color=0x102030))
    return requests.get(server + f"/history/{pid}").json()[pid]["outputs"]["2"]["images"][0]


def test_view_raw(server, ws_client):                               # 108, 121
    img = saved(server, ws_client)
    r = requests.get(server + "/view", params=img)
    assert r.status_code == 200
    assert r.content == (server.output / img["filename"]).read_bytes()
    assert r.headers["Content-Type"] == "image/png"
    assert r.headers["Content-Disposition"] == f'filename="{img["filename"]}"'
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    etag = r.headers["ETag"]
    r = requests.get(server + "/view", params=img, headers={"Range": "bytes=0-9"})
    assert r.status_code == 206 and r.content == (server.output / img["filename"]).read_bytes()[:10]
    assert r.headers["Content-Range"].startswith("bytes 0-9/")
    r = requests.get(server + "/view", params=img, headers={"If-None-Match": etag})
    assert r.status_code == 304
    r = requests.get(server + "/view", params=img, headers={"Range": "bytes=99999-"})
    assert r.status_code == 416


def test_view_errors(server):                                       # 109-113
    (server.output / "x.png").write_bytes(solid_png())
    assert requests.get(server + "/view").status_code == 404
    assert requests.get(server + "/view?filename=../x.png").status_code == 400
    assert requests.get(server + "/view?filename=a..b.png").status_code == 400
    assert requests.get(server + "/view?filename=x.png&type=bogus").status_code == 400
    assert requests.get(server + "/view?filename=x.png&subfolder=../..").status_code == 403
    assert requests.get(server + "/view?filename=/etc/passwd").status_code == 400
    assert requests.get(server + "/view?filename=nope.png").status_code == 404
    assert requests.get(server + "/view?filename=").status_code == 400


def test_view_annotation_and_basename(server):                       # 114
    (server.output / "ann.png").write_bytes(b"output-version")
    (server.input / "ann.png").write_bytes(b"input-version")
    r = requests.get(server + "/view", params={"filename": "ann.png [output]", "type": "input"})
    assert r.content == b"output-version"
    r = requests.get(server + "/view", params={"filename": "dir/ann.png", "type": "input"})
    assert r.content == b"input-version"


def test_view_symlink_escape(server, tmp_path):
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "s.png").write_bytes(b"secret")
    os.symlink(outside, server.input / "link")
    r = requests.get(server + "/view", params={"filename": "s.png", "type": "input",
                                               "subfolder": "link"})
    assert r.status_code == 403


def test_view_previews(server, ws_client):                           # 115-119
    img = saved(server, ws_client)
    r = requests.get(server + "/view", params=dict(img, preview="webp;50"))
    assert r.headers["Content-Type"] == "image/webp"
    assert r.content[:4] == b"RIFF" and r.content[8:12] == b"WEBP"
    assert r.headers["Content-Disposition"] == f'filename="{img["filename"]}"'
    r = requests.get(server + "/view", params=dict(img, preview="jpeg;80"))
    assert r.headers["Content-Type"] == "image/jpeg" and r.content[:2] == b"\xff\xd8"
    r = requests.get(server + "/view", params=dict(img, preview="jpeg", channel="rgba"))
    assert r.headers["Content-Type"] == "image/webp"
    r = requests.get(server + "/view", params=dict(img, channel="rgb"))
    w, h, ctype, px, _ = read_png(r.content)
    assert r.headers["Content-Type"] == "image/png" and ctype == 2 and (w, h) == (8, 8)
    assert px[:3] == bytes([0x10, 0x20, 0x30])
    r = requests.get(server + "/view", params=dict(img, channel="a"))
    w, h, ctype, px, _ = read_png(r.content)
    assert ctype == 6
    assert all(px[i] == 0 for i in range(len(px)) if i % 4 != 3)
    assert all(px[i] == 255 for i in range(3, len(px), 4))
    # an RGBA source supplies its alpha
    (server.output / "rgba.png").write_bytes(solid_png(2, 2, (1, 2, 3), alpha=77))
    r = requests.get(server + "/view", params={"filename": "rgba.png", "channel": "a"})
    assert read_png(r.content)[3][3] == 77
    (server.output / "bad.png").write_bytes(b"not an image")
    assert requests.get(server + "/view", params={"filename": "bad.png",
                                                  "preview": "webp"}).status_code == 500


def test_view_content_types(server):                                  # 120
    (server.input / "page.html").write_text("<script>alert(1)</script>")
    r = requests.get(server + "/view", params={"filename": "page.html", "type": "input"})
    assert r.headers["Content-Type"] == "application/octet-stream"
    (server.input / "data.bin").write_bytes(b"\x00\x01")
    r = requests.get(server + "/view", params={"filename": "data.bin", "type": "input"})
    assert r.headers["Content-Type"] == "application/octet-stream"


def up(server, name, data, **fields):
    return requests.post(server + "/upload/image", files={"image": (name, data, "image/png")},
                         data=fields)


def test_upload_image(server):                                        # 122-128
    a = solid_png(rgb=(1, 1, 1))
    b = solid_png(rgb=(2, 2, 2))
    r = up(server, "a.png", a)
    assert r.status_code == 200
    assert r.content == b'{"name": "a.png", "subfolder": "", "type": "input"}'
    assert (server.input / "a.png").read_bytes() == a
    assert up(server, "a.png", a).json()["name"] == "a.png"
    assert not (server.input / "a (1).png").exists()
    assert up(server, "a.png", b).json()["name"] == "a (1).png"
    assert up(server, "a.png", b).json()["name"] == "a (1).png"
    c = solid_png(rgb=(3, 3, 3))
    r = up(server, "a.png", c, overwrite="true")
    assert r.json()["name"] == "a.png" and (server.input / "a.png").read_bytes() == c
    r = up(server, "s.png", a, subfolder="sub", type="temp")
    assert r.json() == {"name": "s.png", "subfolder": "sub", "type": "temp"}
    assert (server.temp / "sub" / "s.png").exists()
    assert up(server, "x.png", a, subfolder="../../x").status_code == 400
    assert up(server, "x.png", a, subfolder="/tmp").status_code == 400
    r = requests.post(server + "/upload/image", files={"other": ("x.png", a)})
    assert r.status_code == 400
    assert up(server, "x.png", a, type="bogus").status_code == 500
    assert up(server, "noext", a).json()["name"] == "noext"
    assert up(server, "noext", b).json()["name"] == "noext (1)"
    assert up(server, "a.tar.gz", a).json()["name"] == "a.tar.gz"
    assert up(server, "a.tar.gz", b).json()["name"] == "a.tar (1).gz"


def test_upload_appears_in_load_image(server):                       # 138
    up(server, "zz_new.png", solid_png(rgb=(9, 9, 9)))
    info = requests.get(server + "/object_info/LoadImage").json()
    choices = info["LoadImage"]["input"]["required"]["image"][0]
    assert "zz_new.png" in choices and choices == sorted(choices)


def test_upload_mask(server):                                          # 129
    w, h = 3, 2
    orig_px = bytes([10, 20, 30] * (w * h))
    (server.input / "orig.png").write_bytes(make_png(w, h, orig_px, 3,
                                                     texts=[("prompt", "{}")]))
    mask_px = b"".join(bytes([0, 0, 0, a]) for a in range(0, 60, 10))
    mask = make_png(w, h, mask_px, 4)
    r = requests.post(server + "/upload/mask",
                      files={"image": ("masked.png", mask, "image/png")},
                      data={"original_ref": json.dumps({"filename": "orig.png", "subfolder": "",
                                                        "type": "input"})})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "masked.png"
    ww, hh, ctype, px, texts = read_png((server.input / "masked.png").read_bytes())
    assert (ww, hh, ctype) == (w, h, 6)
    assert [px[i * 4 + 3] for i in range(w * h)] == list(range(0, 60, 10))
    assert all(px[i * 4:i * 4 + 3] == bytes([10, 20, 30]) for i in range(w * h))
    assert texts.get("prompt") == "{}"
    r = requests.post(server + "/upload/mask", files={"image": ("m2.png", mask, "image/png")})
    assert r.status_code == 500


def test_view_metadata(server):                                        # 139
    ck = server.base / "models" / "checkpoints"
    ck.mkdir(parents=True, exist_ok=True)
    header = json.dumps({"__metadata__": {"a": "b"}, "w": {"dtype": "F32", "shape": [1],
                                                          "data_offsets": [0, 4]}}).encode()
    (ck / "m.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4)
    header2 = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    (ck / "n.safetensors").write_bytes(struct.pack("<Q", len(header2)) + header2 + b"\0" * 4)
    (ck / "x.ckpt").write_bytes(b"x")
    (ck / "huge.safetensors").write_bytes(struct.pack("<Q", 2 << 20) + b"{}")
    assert requests.get(server + "/view_metadata/checkpoints?filename=x.ckpt").status_code == 404
    r = requests.get(server + "/view_metadata/checkpoints?filename=m.safetensors")
    assert r.status_code == 200 and r.content == b'{"a": "b"}'
    assert requests.get(server + "/view_metadata/checkpoints?filename=n.safetensors").status_code == 404
    assert requests.get(server + "/view_metadata/checkpoints?filename=huge.safetensors").status_code == 404
    assert requests.get(server + "/view_metadata/checkpoints").status_code == 404
    assert requests.get(server + "/view_metadata/nope?filename=m.safetensors").status_code == 404
    r = requests.get(server + "/view_metadata/checkpoints?filename=../../m.safetensors")
    assert r.status_code == 200


def test_concurrent_previews_and_abandoned_request(server):
    # previews run on worker threads; several at once, and a client that
    # hangs up before its preview is ready, must all be handled cleanly
    import concurrent.futures
    w = h = 256
    (server.output / "big_prev.png").write_bytes(
        make_png(w, h, bytes((i * 7) & 255 for i in range(w * h * 3)), 3))
    params = {"filename": "big_prev.png", "preview": "webp;80"}
    try:
        requests.get(server + "/view", params=params, timeout=0.001)
    except requests.exceptions.RequestException:
        pass
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        rs = list(ex.map(lambda _: requests.get(server + "/view", params=params), range(8)))
    assert all(r.status_code == 200 and r.content[8:12] == b"WEBP" for r in rs)
    assert len({r.content for r in rs}) == 1
    r = requests.head(server + "/view", params=params)
    assert r.status_code == 200 and r.content == b""
