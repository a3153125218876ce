"""The HTTP API: every error path answers with its own status and a readable message; results are the CLI's."""

import io
import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from hrinpaint.cli import main
from hrinpaint.server import ServerSettings, create_app
from hrinpaint.server.schemas import build_catalogue
from hrinpaint.server.work import download_stem

WIDTH, HEIGHT = 64, 48


def encode(pixels: np.ndarray, image_format: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=image_format, **options)
    return buffer.getvalue()


def photo(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)


def hole(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    mask[10:22, 12:40] = 255
    return mask


def form(image: bytes, mask: bytes, method: str | None = "telea+cra", options: dict | str | None = None):
    files = {"image": ("holiday photo.png", image, "image/png"), "mask": ("mask.png", mask, "image/png")}
    data = {}
    if method is not None:
        data["method"] = method
    if options is not None:
        data["options"] = options if isinstance(options, str) else json.dumps(options)
    return {"files": files, "data": data}


@pytest.fixture(scope="module")
def catalogue():
    return build_catalogue()


@pytest.fixture(scope="module")
def client(catalogue, tmp_path_factory):
    temp = tmp_path_factory.mktemp("server-temp")
    with TestClient(create_app(ServerSettings(temp_dir=str(temp)), catalogue)) as test_client:
        test_client.temp = temp
        yield test_client


def make_client(catalogue, **settings) -> TestClient:
    return TestClient(create_app(ServerSettings(**settings), catalogue))


def assert_error(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    for word in words:
        assert word in detail, detail


# -------------------------------------------------------------------------------------------------- success


def test_health(client):
    body = client.get("/api/health").json()
    assert body["status"] == "ok" and body["queue"] == {"running": False, "waiting": 0, "capacity": 4}


def test_methods_lists_default_options_and_no_server_paths(client):
    from hrinpaint.methods import DEFAULT_METHOD

    body = client.get("/api/methods").json()
    names = [method["name"] for method in body["methods"]]
    assert body["default"] == DEFAULT_METHOD and "telea+cra" in names
    assert body["fillers"]["telea"]["options"]["properties"]["radius"]["default"] == 5.0
    assert "description" in body["lifters"]["cra"]["options"]["properties"]["top_k"]
    for group in ("fillers", "lifters"):
        for part in body[group].values():
            assert part["options"] is None or "weights" not in part["options"]["properties"]
    assert body["limits"]["max_pixels"] == ServerSettings().max_pixels
    if "hifill" in body["fillers"]:  # listed even while its weights are missing
        assert "hifill+cra" in names


def test_inpaint_changes_only_the_hole_and_keeps_the_format(client):
    pixels, mask = photo(), hole()
    response = client.post("/api/inpaint", **form(encode(pixels), encode(mask)))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"] == 'attachment; filename="holiday_photo_filled.png"'
    assert response.headers["x-hrinpaint-method"] == "telea+cra"
    assert response.headers["x-hrinpaint-filled-pixels"] == str(int((mask > 0).sum()))
    result = np.array(Image.open(io.BytesIO(response.content)))
    changed = (result != pixels).any(axis=2)
    assert changed.any() and not changed[mask == 0].any()


def test_jpeg_comes_back_as_jpeg_at_the_asked_quality(client):
    pixels = photo()
    response = client.post(
        "/api/inpaint", **form(encode(pixels, "JPEG", quality=90), encode(hole()), options={"quality": 80})
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    result = Image.open(io.BytesIO(response.content))
    assert result.format == "JPEG" and result.size == (WIDTH, HEIGHT)


def test_empty_mask_returns_the_upload_byte_for_byte(client):
    original = encode(photo())
    response = client.post("/api/inpaint", **form(original, encode(np.zeros((HEIGHT, WIDTH), np.uint8))))
    assert response.status_code == 200 and response.content == original
    assert response.headers["x-hrinpaint-filled-pixels"] == "0"


def test_pipeline_and_part_options_are_applied(client):
    options = {"working_size": 16, "grow": 2, "filler": {"radius": 3}, "lifter": {"interpolation": "bilinear"}}
    response = client.post("/api/inpaint", **form(encode(photo()), encode(hole()), "telea+upsample", options))
    assert response.status_code == 200, response.text
    grown = int(response.headers["x-hrinpaint-filled-pixels"])
    assert grown == int((hole() > 0).sum())  # grow widens what may change, not the count of painted pixels


def test_job_api_reports_progress_and_returns_the_result_once(client):
    created = client.post("/api/jobs", **form(encode(photo()), encode(hole())))
    assert created.status_code == 202, created.text
    job = created.json()
    deadline = time.monotonic() + 20
    while (status := client.get(job["status_url"]).json())["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert status["state"] == "done" and status["done"] == status["total"] == 1
    assert client.get(job["result_url"]).headers["content-type"] == "image/png"
    assert_error(client.get(job["result_url"]), 404, "no job")
    assert_error(client.get("/api/jobs/not-a-job"), 404, "no job")


def test_temporary_files_are_removed(client):
    client.post("/api/inpaint", **form(encode(photo()), encode(hole())))
    client.post("/api/inpaint", **form(b"not an image", encode(hole())))
    assert list(client.temp.iterdir()) == []


def test_openapi_has_the_per_method_option_schemas(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert {"InpaintOptions", "TeleaFillerOptions", "CraLifterOptions"} <= set(schemas)
    assert schemas["InpaintOptions"]["properties"]["working_size"]["maximum"] == 4096
    assert client.get("/docs").status_code == 200


def test_page_and_its_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "hrinpaint" in page.text
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200


def test_download_name_is_never_a_path():
    assert download_stem("../../etc/passwd.png") == "passwd"
    assert download_stem("C:\\Users\\me\\photo 1.jpg") == "photo_1"
    assert download_stem(None) == "image" and download_stem("....") == "image"


# -------------------------------------------------------------------------------------------------- errors


def test_not_an_image(client):
    assert_error(client.post("/api/inpaint", **form(b"hello", encode(hole()))), 415, "image is not an image")
    assert_error(client.post("/api/inpaint", **form(encode(photo()), b"")), 415, "mask is empty")
    assert_error(client.post("/api/inpaint", **form(b"\x89PNG\r\n\x1a\n broken", encode(hole()))), 415)
    # EPS is never handed to Ghostscript: only photo formats are decoded
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 48\nnewpath 0 0 moveto 64 48 lineto stroke\nshowpage\n"
    assert_error(client.post("/api/inpaint", **form(eps, encode(hole()))), 415, "image is not an image")


def test_mask_of_another_size(client):
    response = client.post("/api/inpaint", **form(encode(photo()), encode(hole(WIDTH + 1, HEIGHT))))
    assert_error(response, 422, "mask is 65x48", "image is 64x48")


def test_mask_covering_everything(client):
    full = np.full((HEIGHT, WIDTH), 255, np.uint8)
    assert_error(client.post("/api/inpaint", **form(encode(photo()), encode(full))), 422, "covers the whole image")


def test_unknown_method(client):
    assert_error(client.post("/api/inpaint", **form(encode(photo()), encode(hole()), "nope+cra")), 422, "unknown")


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ("{not json", ("JSON",)),
        ("[1, 2]", ("JSON object",)),
        ({"colour": 1}, ("colour", "not an option")),
        ({"working_size": 100000}, ("working_size", "4096")),
        ({"filler": {"radius": -1}}, ("radius", "0.5")),
        ({"filler": {"radius": "big"}}, ("radius",)),
        ({"lifter": {"cells": 0}}, ("cells",)),
        ({"filler": {"patch_size": 7}}, ("patch_size", "not an option")),
    ],
)
def test_bad_options(client, options, words):
    assert_error(client.post("/api/inpaint", **form(encode(photo()), encode(hole()), options=options)), 422, *words)


def test_no_client_supplied_paths(client, catalogue):
    for name, part in catalogue.fillers.items():
        if part.model is not None and "weights" in (part.config_class.__dataclass_fields__):
            options = {"filler": {"weights": "/etc/passwd"}}
            response = client.post("/api/inpaint", **form(encode(photo()), encode(hole()), f"{name}+cra", options))
            assert_error(response, 422, "weights", "not an option")


def test_network_filler_without_weights_is_a_clear_error(client, catalogue):
    # lama's weights never ship (they cannot be downloaded here): it is listed, unavailable, and refused clearly.
    part = catalogue.fillers["lama"]
    assert not part.available
    response = client.post("/api/inpaint", **form(encode(photo()), encode(hole()), "lama+cra"))
    assert_error(response, 422, "lama+cra cannot run", "weights")


def test_oversized_upload(catalogue):
    with make_client(catalogue, max_upload_bytes=1024) as small:
        big = encode(photo(400, 300))
        assert_error(small.post("/api/inpaint", **form(big, encode(hole(400, 300)))), 413, "over the server's limit")


def test_too_many_pixels(catalogue):
    with make_client(catalogue, max_pixels=WIDTH * HEIGHT - 1) as small:
        assert_error(small.post("/api/inpaint", **form(encode(photo()), encode(hole()))), 413, "pixels", "limit")


def test_chunked_upload_without_length_is_refused(client):
    response = client.post("/api/inpaint", content=iter([b"--x\r\n"]), headers={"Content-Type": "multipart/form-data"})
    assert_error(response, 411, "Content-Length")


def test_any_transfer_coding_without_length_is_refused_whatever_its_case():
    # httptools (uvicorn[standard]) passes the header as sent; h11 lowercases it. Either way: 411, body unread.
    import asyncio

    from hrinpaint.server.middleware import UploadLimit

    reached, sent = [], []

    async def app(scope, receive, send):
        reached.append(scope)

    async def receive():
        return {"type": "http.request", "body": b"x" * 5000, "more_body": False}

    async def send(message):
        sent.append(message)

    for coding in (b"chunked", b"Chunked", b"CHUNKED", b"gzip, chunked"):
        sent.clear()
        scope = {"type": "http", "method": "POST", "headers": [(b"transfer-encoding", coding)]}
        asyncio.run(UploadLimit(app, max_bytes=1024)(scope, receive, send))
        assert sent[0]["status"] == 411, coding
    assert reached == []


def test_missing_fields(client):
    response = client.post("/api/inpaint", files={"image": ("a.png", encode(photo()), "image/png")})
    assert response.status_code == 422 and "mask" in response.text


def test_busy_queue_answers_503_with_retry_after(catalogue):
    gate = threading.Event()
    with make_client(catalogue, queue_size=1) as busy:
        jobs = busy.app.state.jobs
        jobs.submit(lambda job: gate.wait(10))  # runs (once the worker has taken it)
        deadline = time.monotonic() + 10
        while not jobs.status()["running"]:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        queued = busy.post("/api/jobs", **form(encode(photo()), encode(hole())))  # waits
        try:
            assert queued.status_code == 202
            job = queued.json()
            status = busy.get(job["status_url"]).json()
            assert status["state"] == "queued" and status["position"] == 1
            assert_error(busy.get(job["result_url"]), 409, "queued")
            response = busy.post("/api/inpaint", **form(encode(photo()), encode(hole())))
            assert_error(response, 503, "busy")
            assert int(response.headers["retry-after"]) >= 1
        finally:
            gate.set()
        deadline = time.monotonic() + 20
        while busy.get(job["status_url"]).json()["state"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert busy.get(job["result_url"]).status_code == 200


def test_a_failing_job_does_not_stop_the_worker(catalogue):
    with make_client(catalogue) as fresh:
        jobs = fresh.app.state.jobs
        broken = jobs.submit(lambda job: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            broken.future.result(timeout=10)
        status = fresh.get(f"/api/jobs/{broken.id}").json()
        assert status["state"] == "failed" and status["error_status"] == 500
        assert fresh.post("/api/inpaint", **form(encode(photo()), encode(hole()))).status_code == 200


def test_serve_command_is_lazy_and_checks_its_limits(capsys):
    code = "import sys, hrinpaint.cli as cli; cli.build_parser(); print('fastapi' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    assert main(["serve", "--queue-size", "-1"]) == 2
    assert capsys.readouterr().err == "hrinpaint: error: --queue-size must be 0 to 1000, got -1\n"


def test_loopback_server_refuses_other_host_names(catalogue):
    with make_client(catalogue, allowed_hosts=("127.0.0.1", "localhost")) as guarded:
        assert guarded.get("http://127.0.0.1:8080/api/health").status_code == 200
        assert guarded.get("http://rebound.example/api/health").status_code == 400


# -------------------------------------------------------------------------------------- no request holds the worker


def wait_until(condition, seconds: float) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < seconds, f"not within {seconds} s"
        time.sleep(0.02)
    return time.monotonic() - start


@pytest.fixture(scope="module")
def slow_catalogue(slow_method):
    return build_catalogue()


def worker_free(test_client) -> bool:
    return not test_client.get("/api/health").json()["queue"]["running"]


@pytest.mark.parametrize(
    "method, options, words",
    [
        ("telea+cra", {"lifter": {"cells": 100000}}, ("cells", "128")),
        ("hifill+refine", {"lifter": {"iterations": 150}}, ("iterations", "60")),
        ("patchmatch+cra", {"filler": {"pm_iterations": 1000}}, ("pm_iterations", "20")),
        ("telea+cra", {"grow": 100000}, ("grow", "1024")),
        ("telea+cra", {"filler": {"radius": float("inf")}}, ("radius",)),
    ],
)
def test_option_bounds_are_the_same_for_the_api_and_the_cli(client, catalogue, method, options, words):
    from hrinpaint.bounds import OPTION_BOUNDS
    from hrinpaint.errors import ConfigError
    from hrinpaint.pipeline import Inpainter

    text = json.dumps(options).replace("Infinity", "1e999")
    assert_error(client.post("/api/inpaint", **form(encode(photo()), encode(hole()), method, text)), 422, *words)
    part = next((key for key in ("filler", "lifter") if key in options), None)
    filler, lifter = method.split("+")
    if part is None:
        with pytest.raises(ConfigError, match=words[0]):
            Inpainter.from_method(method, **options)
        return
    name = filler if part == "filler" else lifter
    with pytest.raises(ConfigError, match=words[0]):  # the Python API (and so the CLI) refuses the same value
        Inpainter.from_method(method, **{part: options[part]})
    schema = client.get("/api/methods").json()[f"{part}s"][name]["options"]["properties"]
    option = next(iter(options[part]))
    assert schema[option]["maximum"] == OPTION_BOUNDS[(part, name)][option][1]  # the page's input bounds


def test_every_numeric_option_of_every_part_is_bounded():
    import dataclasses
    import typing

    from hrinpaint.bounds import bounds_for
    from hrinpaint.fillers import FILLERS
    from hrinpaint.lifters import LIFTERS
    from hrinpaint.pipeline import PipelineOptions

    parts = [("pipeline", "", PipelineOptions)]
    parts += [(registry.kind, name, registry.get(name).Config) for registry in (FILLERS, LIFTERS) for name in registry]
    unbounded = []
    for kind, name, config_class in parts:
        hints = typing.get_type_hints(config_class)
        for item in dataclasses.fields(config_class):
            numeric = {int, float} & set(typing.get_args(hints[item.name]) or (hints[item.name],))
            if numeric and hints[item.name] is not bool and item.name not in bounds_for(kind, name, config_class):
                unbounded.append(f"{kind} {name} {item.name}")
    assert unbounded == []


def test_cancel_stops_a_running_job_and_frees_the_worker(slow_catalogue, slow_method):
    from conftest import SlowFiller

    with make_client(slow_catalogue) as server:
        job = server.post("/api/jobs", **form(encode(photo()), encode(hole()), slow_method)).json()
        wait_until(lambda: SlowFiller.running == 1, 10)
        answer = server.delete(job["status_url"])
        assert answer.status_code == 200 and answer.json() == {"id": job["id"], "cancelled": True}
        assert wait_until(lambda: worker_free(server) and SlowFiller.running == 0, 2.0) < 2.0
        status = server.get(job["status_url"]).json()
        assert status["state"] == "cancelled" and status["error"] == "the job was cancelled"
        assert_error(server.get(job["result_url"]), 409, "cancelled")
        assert server.delete(job["status_url"]).status_code == 404  # forgotten
        # a waiting job is dropped at once, and the worker goes on with the next
        first = server.post("/api/jobs", **form(encode(photo()), encode(hole()), slow_method)).json()
        second = server.post("/api/jobs", **form(encode(photo()), encode(hole()))).json()
        assert server.delete(second["status_url"]).json()["cancelled"] is True
        assert server.get(second["status_url"]).json()["state"] == "cancelled"
        server.delete(first["status_url"])
        wait_until(lambda: worker_free(server), 2.0)
        assert server.post("/api/inpaint", **form(encode(photo()), encode(hole()))).status_code == 200


def test_job_time_limit_answers_504_and_frees_the_worker(slow_catalogue, slow_method):
    from conftest import SlowFiller

    with make_client(slow_catalogue, job_timeout=0.5) as server:
        start = time.monotonic()
        response = server.post("/api/inpaint", **form(encode(photo()), encode(hole()), slow_method))
        assert_error(response, 504, "time limit of 0.5 s")
        assert time.monotonic() - start < 3.0
        wait_until(lambda: worker_free(server) and SlowFiller.running == 0, 2.0)
        assert server.post("/api/inpaint", **form(encode(photo()), encode(hole()))).status_code == 200


def test_a_disconnected_clients_job_is_cancelled(slow_catalogue, slow_method):
    import socket

    import uvicorn
    from conftest import SlowFiller

    server = uvicorn.Server(uvicorn.Config(create_app(ServerSettings(), slow_catalogue), port=0, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 30)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        boundary = "hrinpaint-test-boundary"
        parts = []
        for name, filename, data in (("image", "a.png", encode(photo())), ("mask", "m.png", encode(hole()))):
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: image/png\r\n\r\n".encode()
                + data
                + b"\r\n"
            )
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="method"\r\n\r\n{slow_method}\r\n'.encode())
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        head = (
            f"POST /api/inpaint HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {len(body)}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
        )
        client = socket.create_connection(("127.0.0.1", port))
        client.sendall(head.encode() + body)
        wait_until(lambda: SlowFiller.running == 1, 10)
        client.close()
        queue = server.config.app.state.jobs
        assert wait_until(lambda: not queue.status()["running"] and SlowFiller.running == 0, 2.0) < 2.0
    finally:
        server.should_exit = True
        thread.join(10)


def test_foreign_origin_is_refused_for_state_changing_requests(client):
    upload = form(encode(photo()), encode(hole()))
    foreign = client.post("/api/inpaint", headers={"Origin": "https://evil.example"}, **upload)
    assert_error(foreign, 403, "other web sites")
    assert_error(client.post("/api/jobs", headers={"Origin": "null"}, **upload), 403)
    assert_error(client.delete("/api/jobs/abc", headers={"Origin": "http://testserver.evil"}), 403)
    assert client.post("/api/inpaint", headers={"Origin": "http://testserver"}, **upload).status_code == 200
    assert client.get("/api/health", headers={"Origin": "https://evil.example"}).status_code == 200  # reads pass


def test_every_loopback_address_keeps_the_host_check(catalogue):
    from hrinpaint.errors import ConfigError
    from hrinpaint.server.app import allowed_hosts_for

    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        with make_client(catalogue, allowed_hosts=allowed_hosts_for(host)) as guarded:
            assert guarded.get("http://rebound.example/api/health").status_code == 400, host
            assert guarded.get("http://rebound.example:8080/api/health").status_code == 400, host
            assert guarded.get("http://[::1]:8080/api/health").status_code == 200, host
            assert guarded.get("http://localhost:8080/api/health").status_code == 200, host
    with pytest.raises(ConfigError, match="--allow-host"):
        allowed_hosts_for("0.0.0.0")
    assert allowed_hosts_for("0.0.0.0", ("photos.lan",)) == ("photos.lan",)
    assert allowed_hosts_for("192.168.1.5", ("Photos.lan",)) == ("photos.lan", "192.168.1.5")


def test_no_message_names_a_server_path(client):
    data = encode(photo())
    truncated = client.post("/api/inpaint", **form(data[: len(data) // 2], encode(hole())))
    assert_error(truncated, 422, "cannot read 'holiday photo.png'")
    broken_mask = client.post("/api/inpaint", **form(data, encode(hole())[:40]))
    for response in (truncated, broken_mask):
        detail = response.json()["detail"]
        assert response.status_code in (415, 422) and "/" not in detail and "\\" not in detail, detail
    assert list(client.temp.iterdir()) == []


def test_deeply_nested_options_answer_422_json(client):
    upload = (encode(photo()), encode(hole()))
    for depth, words in ((50_000, "over the limit"), (2_000, "nested too deeply")):
        options = "[" * depth + "]" * depth
        assert_error(client.post("/api/inpaint", **form(*upload, options=options)), 422, words)


def test_zlib_bomb_is_refused_under_the_memory_derived_limit(catalogue):
    import struct
    import zlib

    from hrinpaint.server.app import BYTES_PER_PIXEL

    side = 9000  # greyscale zeros: 81 MP in about 80 KB
    compressor = zlib.compressobj(9)
    row = bytes(side + 1)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    assert len(bomb) < 100_000
    memory = 4 * 2**30
    with make_client(catalogue, memory_bytes=memory) as small:
        limits = small.get("/api/methods").json()["limits"]
        assert limits["max_pixels"] == memory // 2 // BYTES_PER_PIXEL < side * side
        assert "4.0 GiB of memory" in limits["max_pixels_source"]
        start = time.monotonic()
        response = small.post("/api/inpaint", **form(bomb, bomb))
        assert_error(response, 413, f"{side}x{side}", "over the server's limit")
        assert time.monotonic() - start < 1.0  # refused from the header, never decoded
    assert ServerSettings().max_pixels > 0 and "GiB of memory" in ServerSettings().max_pixels_source


def test_non_ascii_download_name_follows_rfc_5987(client):
    files = form(encode(photo()), encode(hole()))["files"]
    files["image"] = ("Ölberg 夜景.png", files["image"][1], "image/png")
    response = client.post("/api/inpaint", files=files, data={"method": "telea+cra"})
    assert response.status_code == 200
    disposition = response.headers["content-disposition"]
    assert disposition == (
        "attachment; filename=\"Olberg__filled.png\"; filename*=UTF-8''%C3%96lberg_%E5%A4%9C%E6%99%AF_filled.png"
    )


def test_methods_that_cannot_run_are_marked_with_the_reason(client):
    methods = {item["name"]: item for item in client.get("/api/methods").json()["methods"]}
    assert methods["telea+cra"]["available"] and methods["hifill+refine"]["available"]
    assert not methods["telea+refine"]["available"] and "network filler" in methods["telea+refine"]["reason"]
    assert not methods["lama+cra"]["available"] and "weights" in methods["lama+cra"]["reason"]


def test_docs_page_works_offline(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/api/inpaint" in page.text and "CraLifterOptions" in page.text and "DELETE" in page.text
    assert "<script" not in page.text and "https://" not in page.text  # nothing loaded from elsewhere


def test_time_limit_interrupts_busy_python_code_and_the_worker_goes_on():
    from hrinpaint.errors import JobTimedOut
    from hrinpaint.server.jobs import JobQueue

    queue = JobQueue(time_limit=0.3)
    queue.start()
    try:

        def spin(job):  # never reports progress, never sleeps: only the raised error can stop it
            count = 0
            while True:
                count += 1

        start = time.monotonic()
        stuck = queue.submit(spin)
        with pytest.raises(JobTimedOut, match="time limit of 0.3 s"):
            stuck.future.result(timeout=10)
        assert time.monotonic() - start < 2.0
        assert queue.submit(lambda job: 42).future.result(timeout=10) == 42
    finally:
        queue.stop()
