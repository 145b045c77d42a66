#!/usr/bin/env python3
"""Kiln vs PyTorch on the GPU machine (issue 3, acceptance 2-4).

Run ON the GPU machine, after `source .device/boot.sh;` (docs/gpu-testing.md):
    bash scripts/gpu/run-bench.sh [flags]          # = source scripts/gpu/env.sh; python3 bench/gpu/bench.py [flags]

For ResNet-50 and MobileNetV2 from torchvision (random weights, eval mode) it
  1. exports ONNX (opset 17, dynamo=False, dynamic batch axis),
  2. measures PyTorch eager FP32, eager FP16, FP16 replayed from a CUDA graph, and torch.compile(mode='max-autotune')
     FP16 (optional, in a subprocess with a time cap) at batch 1 (latency) and batch 128 (throughput),
  3. builds Kiln FP32 and FP16 plans with the bundled CLI (`node dist-gpu/kiln.mjs build … --backend cuda`, cold:
     no timing cache; one static-shape plan per batch, as trtexec builds per-shape engines), records the build
     time, checks the FP32 and FP16 plans' output against PyTorch FP32 on one batch (max abs diff), and measures
     them with `kiln bench --useCudaGraph --noDataTransfers`,
  4. with --calibrate (opt-in, ResNet-50 only; issue 5, acceptance 5): writes 512 seeded 256x256 JPEGs and an ImageNet
     preprocessing spec, and times `kiln calibrate … --algo entropy2 --batch 32 --backend cuda` end to end (process
     wall clock: JPEG decoding, engine build, statistics on the GPU, cache writing) before the Kiln builds; with
     `--precisions …,int8` the INT8 plans are built from that cache (`--int8 --fp16 --calib`) and measured like the
     others, so INT8 and FP16 throughput come from the same run.
Latency = median of >= 100 timed iterations (CUDA events around each PyTorch iteration; Kiln's GPU compute time per
iteration from `kiln bench --json`, falling back to its wall latency); throughput = batch * 1000 / median ms.
Every phase is guarded: a failure is recorded in the table's notes and the rest still runs. Results are rewritten
after every measurement to $OUT/benchmarks.{md,json} (--out), so a run cut short still returns what it measured.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import traceback

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
MODELS = ('resnet50', 'mobilenet_v2')
INPUT = 'input'
IMAGE = (3, 224, 224)
OUTPUT = 'output'


def log(msg: str) -> None:
    print(f'[bench {time.strftime("%H:%M:%S")}] {msg}', file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------ results


class Results:
    """Rows and notes, written out after every change."""

    def __init__(self, out: str, meta: dict, merge: list[str]):
        self.out = out
        self.meta = meta
        self.rows: list[dict] = []
        self.notes: list[str] = []
        self.checks: list[dict] = []
        # Kiln calibration timings (--calibrate), and the caches they wrote, by model, for an INT8 build phase.
        self.calibrations: list[dict] = []
        self.calibration_caches: dict[str, str] = {}
        for path in merge:
            with open(path) as f:
                prev = json.load(f)
            self.rows += prev.get('rows', [])
            self.checks += prev.get('checks', [])
            self.calibrations += prev.get('calibrations', [])
            self.notes += [f'(merged from {os.path.basename(path)}) {n}' for n in prev.get('notes', [])]

    def add(self, model: str, batch: int, engine: str, ms: float, **extra) -> None:
        # A re-measured configuration replaces the older row (e.g. from --merge).
        self.rows = [r for r in self.rows if not (r['model'] == model and r['batch'] == batch and r['engine'] == engine)]
        row = {'model': model, 'batch': batch, 'engine': engine, 'ms': ms, 'img_per_s': batch * 1000.0 / ms}
        row.update(extra)
        self.rows.append(row)
        log(f'{model} b{batch} {engine}: {ms:.3f} ms, {row["img_per_s"]:.0f} img/s')
        self.write()

    def note(self, text: str) -> None:
        log(f'NOTE {text}')
        self.notes.append(text)
        self.write()

    def check(self, **c) -> None:
        self.checks.append(c)
        self.write()

    def calibration(self, **c) -> None:
        self.calibrations = [x for x in self.calibrations if x.get('model') != c.get('model')] + [c]
        self.write()

    def markdown(self) -> str:
        m = self.meta
        lines = [
            '# Kiln vs PyTorch on the GPU',
            '',
            f'- Date: {m.get("date")}',
            f'- GPU: {m.get("gpu")} (driver {m.get("driver")}, {m.get("sm_count", "?")} SMs)',
            f'- PyTorch {m.get("torch")} (CUDA {m.get("torch_cuda")}, cuDNN {m.get("cudnn")}), torchvision {m.get("torchvision")}, '
            f'onnx {m.get("onnx")}, Python {m.get("python")}',
            f'- Kiln: commit {m.get("kiln_commit")}, node {m.get("node")}',
            '- Models: torchvision resnet50 and mobilenet_v2, random weights (seed 0), eval mode, input 3x224x224, ONNX opset 17.',
            '- Batch 1: latency, median of the timed iterations (ms); batch 128: throughput = 128 * 1000 / median ms (img/s).',
            '- PyTorch: CUDA events around each iteration, inputs already on the GPU, `torch.inference_mode()`, '
            '`cudnn.benchmark = True`, PyTorch defaults otherwise (cuDNN TF32 on for FP32 convolutions).',
            '- Kiln: `kiln bench --backend cuda --useCudaGraph --noDataTransfers`, GPU compute time per iteration; '
            'FP32 plans with TF32 on (the default), FP16 plans with `--fp16`, INT8 plans with `--int8 --fp16 --calib <the GPU '
            'calibration cache>`; one static-shape plan per batch, built cold '
            '(`--noTimingCache`).',
            '- "vs eager FP16": speed relative to PyTorch eager FP16 at the same batch (> 1 = faster).',
            '',
            '| model | batch | engine | latency ms | throughput img/s | vs eager FP16 | build s |',
            '| --- | ---: | --- | ---: | ---: | ---: | ---: |',
        ]
        order = {e: i for i, e in enumerate(ENGINE_ORDER)}
        rows = sorted(self.rows, key=lambda r: (MODELS.index(r['model']) if r['model'] in MODELS else 9, r['batch'], order.get(r['engine'], 99)))
        for r in rows:
            base = next((b for b in self.rows if b['model'] == r['model'] and b['batch'] == r['batch'] and b['engine'] == 'PyTorch eager FP16'), None)
            ratio = f'{base["ms"] / r["ms"]:.2f}x' if base else '—'
            build = f'{r["build_s"]:.1f}' if r.get('build_s') is not None else ''
            lines.append(f'| {r["model"]} | {r["batch"]} | {r["engine"]} | {r["ms"]:.3f} | {r["img_per_s"]:.0f} | {ratio} | {build} |')
        if self.checks:
            lines += ['', '## Kiln output vs PyTorch FP32 (one batch)', '', '| model | batch | Kiln plan | max abs diff | max abs of PyTorch output | top-1 agrees |', '| --- | ---: | --- | ---: | ---: | :---: |']
            for c in self.checks:
                if 'error' in c:
                    lines.append(f'| {c["model"]} | {c["batch"]} | {c["plan"]} | error: {c["error"]} | | |')
                else:
                    lines.append(f'| {c["model"]} | {c["batch"]} | {c["plan"]} | {c["max_abs_diff"]:.3e} | {c["ref_max_abs"]:.3e} | {"yes" if c["top1_agree"] else "no"} |')
        for r in self.rows:
            fp16 = next((b for b in self.rows if b['model'] == r['model'] and b['batch'] == r['batch'] and b['engine'] == 'Kiln FP16'), None)
            if r['engine'] == 'Kiln INT8' and fp16:
                lines += ['', f'Kiln INT8 (`--int8 --fp16`, calibrated on the GPU) vs Kiln FP16, {r["model"]} batch {r["batch"]}, same run: '
                          f'{r["img_per_s"]:.0f} vs {fp16["img_per_s"]:.0f} img/s ({fp16["ms"] / r["ms"]:.2f}x).']
        build_rows = [r for r in self.rows if r['model'] == 'resnet50' and r['engine'] == 'Kiln FP16' and r.get('build_s') is not None]
        if build_rows:
            lines += ['', 'ResNet-50 FP16 build time (cold, no timing cache): ' + ', '.join(f'batch {r["batch"]}: {r["build_s"]:.1f} s' for r in sorted(build_rows, key=lambda r: r['batch']))]
        if self.calibrations:
            lines += ['', '## INT8 calibration on the GPU', '',
                      'End to end = wall clock of the `kiln calibrate` process: JPEG decoding and preprocessing (sharp), the FP32 '
                      'calibration engine build, statistics gathered on the GPU, entropy2 ranges and the TensorRT cache written. '
                      'Target (issue 5, acceptance 5): at most 30 s.', '']
            for c in self.calibrations:
                if 'error' in c:
                    lines.append(f'- Kiln calibration {c["model"]}, {c["images"]} images: error: {c["error"]}')
                    continue
                inner = f'; calibrationTimeMs of the CLI (engine build, batches, ranges) {c["statistics_s"]:.1f} s' if c.get('statistics_s') is not None else ''
                lines.append(f'- Kiln calibration ({c.get("backend", "cuda").upper()}) {c["model"]}, {c["images"]} images: {c["seconds"]:.1f} s '
                             f'({c["algo"]}, batch {c["batch"]}, {c.get("tensors", "?")} tensors{inner}; '
                             f'{"within" if c["seconds"] <= 30 else "OVER"} the 30 s target)')
        if self.notes:
            lines += ['', '## Notes', ''] + [f'- {n}' for n in self.notes]
        return '\n'.join(lines) + '\n'

    def write(self) -> None:
        os.makedirs(self.out, exist_ok=True)
        with open(os.path.join(self.out, 'benchmarks.json'), 'w') as f:
            json.dump({'meta': self.meta, 'rows': self.rows, 'checks': self.checks, 'calibrations': self.calibrations, 'notes': self.notes}, f, indent=2)
        with open(os.path.join(self.out, 'benchmarks.md'), 'w') as f:
            f.write(self.markdown())


ENGINE_ORDER = ['PyTorch eager FP32', 'PyTorch eager FP16', 'PyTorch FP16 CUDA graph', 'torch.compile max-autotune FP16', 'Kiln FP32', 'Kiln FP16', 'Kiln INT8']

# Kiln plan precision → (engine label, build flags besides --calib). INT8 plans are built the way trtexec users
# build them, `--int8 --fp16`: layers that do not run in INT8 (or where INT8 is slower) fall back to FP16.
KILN_PRECISIONS = {'fp32': ('Kiln FP32', []), 'fp16': ('Kiln FP16', ['--fp16']), 'int8': ('Kiln INT8', ['--int8', '--fp16'])}


def guard(res: Results, what: str, fn, *args, **kwargs):
    """Runs one phase; a failure becomes a note, never the end of the run."""
    try:
        return fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - every phase failure is reported, not raised
        res.note(f'{what} failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}')
        traceback.print_exc(file=sys.stderr)
        return None


# ------------------------------------------------------------------------------------------------ PyTorch


def make_model(name: str):
    import torch
    import torchvision
    torch.manual_seed(0)
    return getattr(torchvision.models, name)(weights=None).eval()


def export_onnx(name: str, path: str) -> None:
    import torch
    model = make_model(name)
    x = torch.randn(1, 3, 224, 224)
    torch.onnx.export(model, (x,), path, opset_version=17, dynamo=False, input_names=[INPUT], output_names=[OUTPUT],
                      dynamic_axes={INPUT: {0: 'batch'}, OUTPUT: {0: 'batch'}})


def cuda_median_ms(fn, iters: int, warmup: int) -> float:
    import torch
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def input_batch(batch: int, seed: int = 1):
    import torch
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, *IMAGE, generator=g)


def torch_eager(res: Results, name: str, batch: int, half: bool, iters: int, warmup: int) -> None:
    import torch
    model = make_model(name).cuda()
    x = input_batch(batch).cuda()
    if half:
        model, x = model.half(), x.half()
    with torch.inference_mode():
        ms = cuda_median_ms(lambda: model(x), iters, warmup)
    res.add(name, batch, f'PyTorch eager {"FP16" if half else "FP32"}', ms, iterations=iters)


def torch_graph(res: Results, name: str, batch: int, iters: int, warmup: int) -> None:
    import torch
    model = make_model(name).cuda().half()
    static_x = input_batch(batch).cuda().half()
    with torch.inference_mode():
        # Warm-up on a side stream before capture, as torch.cuda.graphs' documentation prescribes.
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                model(static_x)
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            model(static_x)
        ms = cuda_median_ms(g.replay, iters, warmup)
    res.add(name, batch, 'PyTorch FP16 CUDA graph', ms, iterations=iters)


def compile_worker(name: str, batches: list[int], iters: dict[int, int], warmup: int) -> None:
    """Subprocess body: torch.compile max-autotune FP16, one JSON line per batch on stdout."""
    import torch
    model = make_model(name).cuda().half()
    cmodel = torch.compile(model, mode='max-autotune')
    for batch in batches:
        x = input_batch(batch).cuda().half()
        t0 = time.time()
        with torch.inference_mode():
            for _ in range(3):  # compile + autotune + cudagraph recording
                cmodel(x)
            torch.cuda.synchronize()
            compile_s = time.time() - t0
            ms = cuda_median_ms(lambda: cmodel(x), iters[batch], warmup)
        print(json.dumps({'batch': batch, 'ms': ms, 'compile_s': compile_s, 'iterations': iters[batch]}), flush=True)


def torch_compile(res: Results, args, name: str, batches: list[int]) -> None:
    timeout_s = args.compile_timeout
    cmd = [sys.executable, os.path.abspath(__file__), '--compile-worker', name, '--batches', ','.join(map(str, batches)),
           '--iters-b1', str(args.iters_b1), '--iters-big', str(args.iters_big), '--warmup', str(args.warmup)]
    log(f'torch.compile {name}: subprocess, cap {timeout_s:.0f} s')
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    got = set()
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        res.note(f'torch.compile {name}: stopped after the {timeout_s:.0f} s cap (--compile-timeout)')
    for line in (out or '').splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        got.add(r['batch'])
        res.add(name, r['batch'], 'torch.compile max-autotune FP16', r['ms'], iterations=r['iterations'], compile_s=round(r['compile_s'], 1))
    if proc.returncode not in (0, None) and len(got) < len(batches):
        res.note(f'torch.compile {name}: worker exited with code {proc.returncode}; batches measured: {sorted(got) or "none"}')


# ------------------------------------------------------------------------------------------------ Kiln


def kiln(args, *cli_args: str, timeout: float) -> dict:
    """Runs the bundled CLI with --json; returns the parsed JSON (last stdout line)."""
    cmd = [args.node, args.kiln_cli, *cli_args]
    log(' '.join(cmd))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        err = [ln for ln in p.stderr.strip().splitlines() if ln.strip()]
        raise RuntimeError(f'kiln {cli_args[0]} exited {p.returncode}: {err[-1] if err else "(no stderr)"}')
    # build and run print pretty JSON over several lines, bench one line: decode from the first '{'.
    text = p.stdout
    at = text.find('{')
    if at < 0:
        raise RuntimeError(f'kiln {cli_args[0]} printed no JSON: {text[:200]!r}')
    value, _ = json.JSONDecoder().raw_decode(text[at:])
    return value


def kiln_build(res: Results, args, name: str, onnx_path: str, batch: int, precision: str) -> tuple[str, float] | None:
    plan = os.path.join(args.workdir, f'{name}_b{batch}_{precision}.plan')
    shape = f'{INPUT}:{batch}x' + 'x'.join(map(str, IMAGE))
    flags = ['build', onnx_path, '--backend', args.kiln_backend, '--shapes', shape, '-o', plan, '--noTimingCache', '--json']
    flags += KILN_PRECISIONS[precision][1]
    if precision == 'int8':
        cache = res.calibration_caches.get(name)
        if not cache:
            raise RuntimeError('no calibration cache for the INT8 build (run with --calibrate)')
        flags += ['--calib', cache]
    t0 = time.time()
    j = kiln(args, *flags, timeout=args.build_timeout)
    wall = time.time() - t0
    build_s = j.get('buildTimeMs', wall * 1000) / 1000
    log(f'built {plan}: {build_s:.1f} s (process {wall:.1f} s)')
    return plan, build_s


def kiln_bench(res: Results, args, name: str, plan: str, batch: int, precision: str, build_s: float | None) -> None:
    engine = KILN_PRECISIONS[precision][0]
    iters = args.iters_b1 if batch == 1 else args.iters_big
    j = kiln(args, 'bench', plan, '--backend', args.kiln_backend, '--useCudaGraph', '--noDataTransfers', '--iterations', str(iters),
             '--duration', '1', '--warmUp', '500', '--json', timeout=args.bench_timeout)
    compute = (j.get('gpu_compute_ms') or {}).get('median')
    latency = (j.get('latency_ms') or {}).get('median')
    ms, source = (compute, 'gpu_compute_ms') if compute and j.get('timer') != 'js' else (latency, 'latency_ms')
    if not ms:
        raise RuntimeError(f'kiln bench gave no timing: {json.dumps(j)[:300]}')
    if not j.get('cuda_graph'):
        res.note(f'{engine} {name} b{batch}: no CUDA graph ({j.get("cuda_graph_reason", "no reason given")}); timer {j.get("timer")}')
    res.add(name, batch, engine, ms, build_s=build_s, iterations=j.get('iterations'), timing=source,
            wall_latency_ms=latency, cuda_graph=j.get('cuda_graph'))


def kiln_check(res: Results, args, name: str, plan: str, batch: int, label: str) -> None:
    """Kiln's output on one batch vs PyTorch FP32 (TF32 off) on the same input."""
    import numpy as np
    import torch
    x = input_batch(batch, seed=7)
    model = make_model(name).cuda()
    prev = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.inference_mode():
            ref = model(x.cuda()).float().cpu().numpy()
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = prev
    d = os.path.join(args.workdir, f'check_{os.path.basename(plan)}')
    os.makedirs(d, exist_ok=True)
    np.save(os.path.join(d, 'input.npy'), x.numpy())
    kiln(args, 'run', plan, '--backend', args.kiln_backend, '--input', f'{INPUT}={os.path.join(d, "input.npy")}', '--output-dir', d, '--json',
         timeout=args.bench_timeout)
    got = np.load(os.path.join(d, f'{OUTPUT}.npy')).astype(np.float32)
    if got.shape != ref.shape:
        raise RuntimeError(f'Kiln output shape {got.shape}, PyTorch {ref.shape}')
    diff = float(np.max(np.abs(got - ref)))
    res.check(model=name, batch=batch, plan=label, max_abs_diff=diff, ref_max_abs=float(np.max(np.abs(ref))),
              top1_agree=bool(np.all(got.argmax(axis=1) == ref.argmax(axis=1))))
    log(f'check {name} {label}: max abs diff {diff:.3e}')


CALIB_IMAGES = 512
CALIB_BATCH = 32
# torchvision's ImageNet evaluation transform: resize the shorter side to 256, centre crop 224, RGB in [0, 1],
# normalized by the ImageNet mean/std, NCHW (packages/calibrate/src/dataset/images.ts, PreprocessSpec).
CALIB_SPEC = {'resize': {'shorterSide': 256}, 'centerCrop': [224, 224], 'channelOrder': 'RGB', 'scale': 1 / 255,
              'mean': [0.485, 0.456, 0.406], 'std': [0.229, 0.224, 0.225], 'layout': 'NCHW'}


def write_calibration_images(folder: str, count: int, seed: int = 0) -> None:
    """`count` seeded 256x256 RGB JPEGs: smooth random colour fields with noise (photo-like statistics, unlike
    pure noise), named so their sorted order is the generation order."""
    import numpy as np
    from PIL import Image
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        path = os.path.join(folder, f'img_{i:04d}.jpg')
        coarse = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
        img = np.asarray(Image.fromarray(coarse, 'RGB').resize((256, 256), Image.BICUBIC), dtype=np.float32)
        img += rng.normal(0.0, 12.0, size=img.shape)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), 'RGB').save(path, quality=90)


def kiln_calibrate(res: Results, args, name: str, onnx_path: str) -> str:
    """Times `kiln calibrate` on CALIB_IMAGES generated images (wall clock of the CLI process); returns the cache path."""
    data = os.path.join(args.workdir, f'calib_images_{CALIB_IMAGES}')
    if len([f for f in os.listdir(data) if f.endswith('.jpg')] if os.path.isdir(data) else []) != CALIB_IMAGES:
        shutil.rmtree(data, ignore_errors=True)
        write_calibration_images(data, CALIB_IMAGES)
    spec = os.path.join(args.workdir, 'calib_preprocess.json')
    with open(spec, 'w') as f:
        json.dump(CALIB_SPEC, f)
    cache = os.path.join(args.workdir, f'{name}.cache')
    if os.path.exists(cache):
        os.remove(cache)
    t0 = time.time()
    try:
        j = kiln(args, 'calibrate', onnx_path, '--data', data, '--preprocess', spec, '--algo', 'entropy2', '--batch', str(CALIB_BATCH),
                 '--backend', args.kiln_backend, '-o', cache, '--trt-version', '10.8.0', '--json', timeout=args.calibrate_timeout)
    except Exception as e:
        res.calibration(model=name, images=CALIB_IMAGES, error=f'{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}')
        raise
    wall = time.time() - t0
    if not os.path.exists(cache):
        raise RuntimeError(f'kiln calibrate wrote no cache at {cache}')
    stats_ms = j.get('calibrationTimeMs')
    res.calibration(model=name, images=CALIB_IMAGES, batch=CALIB_BATCH, algo='entropy2', backend=args.kiln_backend, seconds=wall,
                    statistics_s=stats_ms / 1000 if isinstance(stats_ms, (int, float)) else None, batches=j.get('batches'),
                    tensors=j.get('tensors'), cache=cache)
    res.calibration_caches[name] = cache
    log(f'Kiln calibration ({args.kiln_backend}) {name}, {CALIB_IMAGES} images: {wall:.1f} s; cache {cache}')
    return cache


# ------------------------------------------------------------------------------------------------ main


def environment(args) -> dict:
    meta = {'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'), 'python': platform.python_version()}
    try:
        import torch
        import torchvision
        meta.update(torch=torch.__version__, torch_cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(), torchvision=torchvision.__version__)
        if torch.cuda.is_available():
            p = torch.cuda.get_device_properties(0)
            meta.update(gpu=p.name, sm_count=p.multi_processor_count, compute_capability=f'{p.major}.{p.minor}')
    except Exception as e:  # noqa: BLE001
        meta['torch_error'] = str(e)
    try:
        import onnx
        meta['onnx'] = onnx.__version__
    except Exception:  # noqa: BLE001
        meta['onnx'] = 'unavailable'
    try:
        meta['driver'] = subprocess.run(['nvidia-smi', '--query-gpu=driver_version', '--format=csv,noheader'], capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
    except Exception:  # noqa: BLE001
        meta['driver'] = 'unknown'
    try:
        meta['node'] = subprocess.run([args.node, '--version'], capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception:  # noqa: BLE001
        meta['node'] = 'unavailable'
    commit = os.path.join(ROOT, '.cache', 'gpu-stage', 'commit')
    meta['kiln_commit'] = open(commit).read().strip()[:12] if os.path.exists(commit) else 'unknown'
    return meta


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', default=os.environ.get('OUT') or os.path.join(ROOT, 'bench-out'), help='where benchmarks.{md,json} go (default $OUT)')
    p.add_argument('--models', default=','.join(MODELS))
    p.add_argument('--batches', default='1,128')
    p.add_argument('--engines', default='torch,graph,compile,kiln', help='any of torch (eager FP32+FP16), graph, compile, kiln')
    p.add_argument('--no-compile', action='store_true', help='skip torch.compile (it can take minutes)')
    p.add_argument('--compile-timeout', type=float, default=300, help='seconds per model for torch.compile, both batches (default 300)')
    p.add_argument('--iters-b1', type=int, default=200, help='timed iterations at batch 1 (>= 100)')
    p.add_argument('--iters-big', type=int, default=100, help='timed iterations at the large batch')
    p.add_argument('--warmup', type=int, default=20)
    p.add_argument('--precisions', default='fp32,fp16', help='Kiln plans to build: fp32, fp16, int8 (int8 needs --calibrate)')
    p.add_argument('--kiln-cli', default=os.path.join(ROOT, 'dist-gpu', 'kiln.mjs'))
    p.add_argument('--node', default=shutil.which('node') or 'node')
    p.add_argument('--workdir', default='/tmp/kiln-bench')
    p.add_argument('--build-timeout', type=float, default=400)
    p.add_argument('--bench-timeout', type=float, default=180)
    p.add_argument('--no-check', action='store_true', help='skip the Kiln vs PyTorch output check')
    p.add_argument('--merge', action='append', default=[], help='benchmarks.json of an earlier run to include (repeatable)')
    p.add_argument('--kiln-backend', default='cuda', help='cuda; cpu only to test this script on a machine without a GPU')
    p.add_argument('--calibrate', action='store_true', help=f'also time `kiln calibrate` (entropy2) of resnet50 on {CALIB_IMAGES} generated images (off by default)')
    p.add_argument('--calibrate-timeout', type=float, default=600)
    p.add_argument('--compile-worker', help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv) -> int:
    args = parse_args(argv)
    batches = [int(b) for b in args.batches.split(',') if b]
    if args.compile_worker:
        compile_worker(args.compile_worker, batches, {b: (args.iters_b1 if b == 1 else args.iters_big) for b in batches}, args.warmup)
        return 0
    engines = set(args.engines.split(','))
    if args.no_compile:
        engines.discard('compile')
    models = [m for m in args.models.split(',') if m]
    os.makedirs(args.workdir, exist_ok=True)
    res = Results(args.out, environment(args), args.merge)
    res.write()
    log(f'meta: {json.dumps(res.meta)}')
    try:
        import torch
        torch.backends.cudnn.benchmark = True
        if not torch.cuda.is_available():
            res.note('torch.cuda.is_available() is False: PyTorch phases skipped')
            engines -= {'torch', 'graph', 'compile'}
    except ImportError as e:
        res.note(f'no torch: {e}')
        return 1

    for name in models:
        onnx_path = os.path.join(args.workdir, f'{name}.onnx')
        if guard(res, f'export {name}', export_onnx, name, onnx_path) is None and not os.path.exists(onnx_path):
            continue
        log(f'exported {onnx_path} ({os.path.getsize(onnx_path) / 1e6:.1f} MB)')
        for batch in batches:
            iters = args.iters_b1 if batch == 1 else args.iters_big
            if 'torch' in engines:
                guard(res, f'PyTorch eager FP32 {name} b{batch}', torch_eager, res, name, batch, False, iters, args.warmup)
                guard(res, f'PyTorch eager FP16 {name} b{batch}', torch_eager, res, name, batch, True, iters, args.warmup)
            if 'graph' in engines:
                guard(res, f'PyTorch CUDA graph {name} b{batch}', torch_graph, res, name, batch, iters, args.warmup)
        # The calibration comes first: the INT8 plans are built from its cache.
        if args.calibrate and name == 'resnet50':
            guard(res, f'Kiln calibration {name}', kiln_calibrate, res, args, name, onnx_path)
        if 'kiln' in engines:
            for precision in [p for p in args.precisions.split(',') if p]:
                if precision not in KILN_PRECISIONS:
                    res.note(f'unknown precision {precision!r} (one of {", ".join(KILN_PRECISIONS)})')
                    continue
                if precision == 'int8' and name not in res.calibration_caches:
                    res.note(f'Kiln INT8 {name}: not built (no calibration cache; INT8 plans need --calibrate, ResNet-50 only)')
                    continue
                for batch in batches:
                    built = guard(res, f'Kiln build {name} b{batch} {precision}', kiln_build, res, args, name, onnx_path, batch, precision)
                    if not built:
                        continue
                    plan, build_s = built
                    if batch == batches[0] and not args.no_check:
                        guard(res, f'Kiln check {name} {precision}', kiln_check, res, args, name, plan, batch, f'{precision.upper()} b{batch}')
                    guard(res, f'Kiln bench {name} b{batch} {precision}', kiln_bench, res, args, name, plan, batch, precision, build_s)
        if 'compile' in engines:
            guard(res, f'torch.compile {name}', torch_compile, res, args, name, batches)
    res.write()
    print(res.markdown())
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
