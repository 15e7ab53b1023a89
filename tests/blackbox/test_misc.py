"""Models, object_info, system routes (checklist 130-144)."""
import requests


def test_models(server):                                               # 130-133
    m = requests.get(server + "/models").json()
    assert m[:6] == ["checkpoints", "configs", "loras", "vae", "text_encoders", "diffusion_models"]
    ck = server.base / "models" / "checkpoints"
    ck.mkdir(parents=True, exist_ok=True)
    for n in ("b.safetensors", "a.ckpt", "notes.txt"):
        (ck / n).write_bytes(b"x")
    lst = requests.get(server + "/models/checkpoints").json()
    assert "notes.txt" not in lst and lst == sorted(lst) and "a.ckpt" in lst
    assert requests.get(server + "/models/unet").status_code == 404
    assert requests.get(server + "/models/nonexistent").status_code == 404
    emb = server.base / "models" / "embeddings"
    emb.mkdir(parents=True, exist_ok=True)
    (emb / "easyneg.safetensors").write_bytes(b"x")
    assert "easyneg" in requests.get(server + "/embeddings").json()


def test_object_info(server):                                          # 134-137
    si = requests.get(server + "/object_info/SaveImage").json()
    assert list(si) == ["SaveImage"]
    d = si["SaveImage"]
    assert d["output_node"] is True and d["output"] == []
    assert d["input"]["hidden"] == {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}
    assert requests.get(server + "/object_info/NoSuchNode").json() == {}
    keys = {"input", "input_order", "output", "output_is_list", "output_name", "name",
            "display_name", "description", "python_module", "category", "output_node"}
    for name, d in requests.get(server + "/object_info").json().items():
        assert keys <= d.keys(), name


def test_system_stats(server):                                         # 140
    s = requests.get(server + "/system_stats").json()
    assert list(s["system"].keys())[:11] == ["os", "ram_total", "ram_free", "comfyui_version",
                                             "required_frontend_version",
                                             "installed_templates_version",
                                             "required_templates_version", "python_version",
                                             "pytorch_version", "embedded_python", "argv"]
    assert len(s["devices"]) == 1


def test_experiment_models(server):                                    # 141
    lst = requests.get(server + "/experiment/models").json()
    names = [e["name"] for e in lst]
    assert "configs" not in names and "custom_nodes" not in names
    assert all(list(e.keys()) == ["name", "folders"] for e in lst)
    ck = server.base / "models" / "checkpoints"
    ck.mkdir(parents=True, exist_ok=True)
    (ck / "e.safetensors").write_bytes(b"x")
    (ck / ".hidden.safetensors").write_bytes(b"x")
    files = requests.get(server + "/experiment/models/checkpoints").json()
    e = next(f for f in files if f["name"] == "e.safetensors")
    assert list(e.keys()) == ["name", "pathIndex", "modified", "created", "size"]
    assert not any(f["name"].startswith(".") for f in files)
    assert requests.get(server + "/experiment/models/unet").status_code == 404


def test_internal(server):                                             # 142-144
    (server.output / "old.txt").write_text("1")
    import os, time
    os.utime(server.output / "old.txt", (time.time() - 100, time.time() - 100))
    (server.output / "new.txt").write_text("2")
    files = requests.get(server + "/internal/files/output").json()
    assert files.index("new.txt") < files.index("old.txt")
    r = requests.get(server + "/internal/files/bogus")
    assert r.status_code == 400 and r.json() == {"error": "Invalid directory type"}
    raw = requests.get(server + "/internal/logs/raw").json()
    assert list(raw.keys()) == ["entries", "size"] and set(raw["size"]) == {"cols", "rows"}
    assert isinstance(requests.get(server + "/internal/logs").json(), str)
    assert requests.get(server + "/workflow_templates").json() == {}
    assert requests.get(server + "/i18n").json() == {}
    r = requests.patch(server + "/internal/logs/subscribe", json={"clientId": "x", "enabled": True})
    assert r.status_code == 200
    assert requests.patch(server + "/internal/logs/subscribe", json={}).status_code == 500


def test_model_preview(server):
    from pngutil import solid_png
    ck = server.base / "models" / "loras"
    (ck / "sub").mkdir(parents=True, exist_ok=True)
    (ck / "sub" / "m.safetensors").write_bytes(b"x")
    (ck / "sub" / "m.preview.png").write_bytes(solid_png(3, 3))
    r = requests.get(server + "/experiment/models/preview/loras/0/sub/m.safetensors")
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/webp"
    assert r.content[:4] == b"RIFF"
    assert requests.get(server + "/experiment/models/preview/loras/0/none.safetensors").status_code == 404
    assert requests.get(server + "/experiment/models/preview/nope/0/m.safetensors").status_code == 404
    assert requests.get(server + "/experiment/models/preview/loras/9/m.safetensors").status_code == 500


def test_listen_ipv4_and_ipv6(make_server):
    import socket
    s = make_server("--listen", "127.0.0.1,::1")
    assert requests.get(s + "/prompt").status_code == 200
    try:
        socket.create_connection(("::1", s.port), timeout=2).close()
    except OSError:
        import pytest
        pytest.skip("no IPv6 loopback here")
    assert requests.get(f"http://[::1]:{s.port}/prompt").status_code == 200


def test_chunked_body_asks_for_length(server):
    def gen():
        yield b'{"clear": '
        yield b'true}'
    r = requests.post(server + "/history", data=gen())
    assert r.status_code == 411
    assert requests.get(server + "/prompt").status_code == 200


def test_ksampler_seed_max(server):                                    # 137
    r = requests.get(server + "/object_info/KSampler")
    if r.json() == {}:
        import pytest
        pytest.skip("diffusion pack not loaded")
    assert b'"max": 18446744073709551615' in r.content
    assert r.json()["KSampler"]["input"]["required"]["seed"][1]["max"] == 18446744073709551615
