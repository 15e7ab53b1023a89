"""Routing, HTTP basics and middleware (spec §0, checklist 1-24)."""
import gzip
import json
import socket

import requests

from conftest import minimal_prompt, queue


def raw_request(server, text):
    """Sends raw HTTP bytes (to control Host/Origin exactly); returns
    (status, headers dict, body)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(text.encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            if _ and b"content-length" in head.lower():
                n = int([l for l in head.split(b"\r\n")
                         if l.lower().startswith(b"content-length")][0].split(b":")[1])
                if len(body) >= n:
                    break
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
    return status, headers, body


def test_prompt_bare_and_api(server):                       # 1, 12
    a = requests.get(server + "/prompt")
    b = requests.get(server + "/api/prompt")
    assert a.status_code == b.status_code == 200
    assert a.content == b.content == b'{"exec_info": {"queue_remaining": 0}}'


def test_object_info_bare_and_api(server):                  # 2
    a = requests.get(server + "/object_info").json()
    b = requests.get(server + "/api/object_info").json()
    assert isinstance(a, dict) and a.keys() == b.keys() and "SaveImage" in a


def test_root_and_api_root(server):                         # 3, 5
    a = requests.get(server + "/")
    b = requests.get(server + "/api/")
    assert a.status_code == 200 and a.content == b.content
    assert a.headers["Cache-Control"] == "no-cache"
    assert a.headers["Pragma"] == "no-cache"
    assert a.headers["Expires"] == "0"
    assert "comfyd" in a.text and "--front-end-root" in a.text


def test_internal_only_bare(server):                        # 4
    r = requests.get(server + "/internal/folder_paths")
    assert r.status_code == 200 and "checkpoints" in r.json()
    assert requests.get(server + "/api/internal/folder_paths").status_code == 404


def test_wrong_method_405(server):                          # 6, 7
    r = requests.delete(server + "/prompt")
    assert r.status_code == 405 and "Allow" in r.headers
    assert r.text == "405: Method Not Allowed"
    r = requests.post(server + "/this/does/not/exist")
    assert r.status_code == 405
    assert set(r.headers["Allow"].split(",")) >= {"GET", "HEAD"}


def test_unknown_get_404(server):                           # 8, 10
    assert requests.get(server + "/this/does/not/exist.txt").status_code == 404
    r = requests.get(server + "/prompt/")
    assert r.status_code == 404 and b"exec_info" not in r.content


def test_head(server):                                      # 9
    r = requests.head(server + "/system_stats")
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["Content-Length"]) > 0


def test_json_content_type(server):                         # 11
    r = requests.get(server + "/queue")
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    assert r.content == b'{"queue_running": [], "queue_pending": []}'


def test_non_ascii_escaped(server):                         # 13
    assert requests.post(server + "/settings/x.accent", data='"\u00e9"'.encode()).status_code == 200
    assert requests.get(server + "/settings/x.accent").content == b'"\\u00e9"'


def test_options(server):                                   # 14
    r = requests.options(server + "/prompt")
    assert r.status_code == 200 and r.content == b""


def test_origin_check(server):                              # 15, 16, 17
    body = json.dumps({"prompt": {}})
    base = ("POST /prompt HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n"
            "Connection: close\r\n\r\n" % len(body)) + body.replace("{", "{{").replace("}", "}}")
    st, _, b = raw_request(server, base.format(host="127.0.0.1:8188", origin="http://example.com"))
    assert st == 403 and b == b""
    st, _, _ = raw_request(server, base.format(host="127.0.0.1:8188", origin="http://127.0.0.1:8188"))
    assert st == 400          # reached the handler (prompt has no outputs)
    st, _, _ = raw_request(server, base.format(host="192.168.1.5:8188", origin="http://evil.com"))
    assert st == 400
    st, _, _ = raw_request(server, base.format(host="localhost:8188", origin="http://evil.com:8188"))
    assert st == 403
    st, _, _ = raw_request(server, base.format(host="127.0.0.1:8188", origin="null"))
    assert st == 400
    # OPTIONS is checked too
    st, _, _ = raw_request(server, "OPTIONS /prompt HTTP/1.1\r\nHost: 127.0.0.1:1\r\n"
                                   "Origin: http://evil.com\r\nConnection: close\r\n\r\n")
    assert st == 403


def test_cors(make_server):                                  # 18, 19
    s = make_server("--enable-cors-header")
    r = requests.get(s + "/prompt", headers={"Origin": "http://evil.com"})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Access-Control-Allow-Methods"] == "POST, GET, DELETE, PUT, OPTIONS"
    assert r.headers["Access-Control-Allow-Headers"] == "Content-Type, Authorization"
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    r = requests.options(s + "/anything")
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == "*"
    s2 = make_server("--enable-cors-header", "http://a.b")
    assert requests.get(s2 + "/prompt").headers["Access-Control-Allow-Origin"] == "http://a.b"


def test_view_no_cache_control(server):                     # 23
    (server.output / "nc.png").write_bytes(b"\x89PNG fake")
    r = requests.get(server + "/api/view?filename=nc.png&type=output&subfolder=")
    assert r.status_code == 200 and "Cache-Control" not in r.headers


def test_body_too_large(make_server):                        # 24
    s = make_server("--max-upload-size", "0.001")           # 1048 bytes
    big = json.dumps({"prompt": {}, "pad": "x" * 5000})
    r = requests.post(s + "/prompt", data=big)
    assert r.status_code == 413
    assert r.text.startswith("Maximum request body size 1049 exceeded")
    assert requests.get(s + "/features").json()["max_upload_size"] == 1048.576
    # the server still works on a new connection
    assert requests.get(s + "/prompt").status_code == 200


def test_gzip(make_server):
    s = make_server("--enable-compress-response-body")
    r = requests.get(s + "/object_info", headers={"Accept-Encoding": "gzip"}, stream=True)
    assert r.headers["Content-Encoding"] == "gzip"
    raw = r.raw.read()
    assert json.loads(gzip.decompress(raw))["SaveImage"]["output_node"] is True
    r = requests.get(s + "/object_info", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in r.headers


def test_keep_alive_many_requests(server):
    with requests.Session() as sess:
        for _ in range(50):
            assert sess.get(server + "/prompt").status_code == 200


def test_features(server):                                  # 30
    assert requests.get(server + "/features").content == \
        b'{"supports_preview_metadata": true, "max_upload_size": 104857600}'


def test_ws_plain_get_400(server):
    r = requests.get(server + "/ws")
    assert r.status_code == 400 and "WebSocket" in r.text


def test_expect_100_continue(server):
    import socket
    body = b'{"clear": true}'
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"POST /history HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                  b"Expect: 100-continue\r\n\r\n" % len(body))
        first = s.recv(4096)
        assert first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        s.sendall(body)
        rest = first[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
        while b"\r\n\r\n" not in rest:
            rest += s.recv(4096)
        assert rest.startswith(b"HTTP/1.1 200")


def test_unhandled_errors_are_text_500(server):
    r = requests.post(server + "/prompt", data=b"not json")
    assert r.status_code == 500
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert r.text == "500 Internal Server Error\n\nServer got itself in trouble"
    assert requests.post(server + "/queue").status_code == 500
    assert requests.post(server + "/free", data=b"[").status_code == 500
    r = requests.post(server + "/interrupt", data=b"not json")      # treated as {}
    assert r.status_code == 200
    assert requests.get(server + "/history?max_items=x").status_code == 500
    assert requests.get(server + "/prompt").status_code == 200
