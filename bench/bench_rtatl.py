"""RTATL throughput: training examples/s (one joint train step) and inference faces/s.

Synthetic input (random pixels, the built-in mean landmark shape, random labels, half the batch with a
flow target), so no data files are needed. Prints a table and writes ``bench/results/rtatl.json``.

    python bench/bench_rtatl.py                           # paper size, batch 32, XLA off+on, every device
    python bench/bench_rtatl.py --device-check            # list devices and exit
    python bench/bench_rtatl.py --device gpu --mixed-precision --steps 50
    python bench/bench_rtatl.py --preset ci --steps 3     # quick smoke run
    python bench/bench_rtatl.py --variants all --preset demo --batch-size 16   # cost of each auxiliary task
    python bench/bench_rtatl.py --distribute mirrored --cpu-replicas 2 --preset ci    # CPU scaling rows
    python bench/bench_rtatl.py --distribute mirrored --mixed-precision --xla on       # 1..N GPUs

Goal on one H100 (paper preset, batch 32, 192²): >= 500 training images/s; >= 0.9x linear scaling to 2 GPUs.
``--distribute mirrored`` measures weak scaling: ``--batch-size`` per replica, global batch = that x replicas,
one row per replica count (1, 2, 4, ... up to the GPUs or ``--cpu-replicas``), written to
``bench/results/rtatl_scaling.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from _common import Timer, machine_info, results_path, write_results  # first: sets the import path


def synthetic_batch(trainer, batch_size: int, seed: int = 0) -> dict:
    import numpy as np

    rng = np.random.default_rng(seed)
    b = trainer.dummy_batch(batch_size)
    b["image"] = rng.uniform(0, 255, b["image"].shape).astype("float32")
    b["landmarks"] = (b["landmarks"] + rng.normal(0, 1.5, b["landmarks"].shape)).astype("float32")
    b["au_labels"] = rng.integers(-1, 2, b["au_labels"].shape).astype("int32")
    if "flow" in b:
        b["flow"] = rng.normal(0, 1, b["flow"].shape).astype("float32")
        b["has_flow"] = (np.arange(batch_size) % 2).astype("float32")
    return b


def bench_train(cfg, device: str, xla: bool, mixed: bool, batch_size: int, steps: int, warmup: int) -> dict:
    import tensorflow as tf

    from keras_au.models.rtatl.task import build_trainer

    with tf.device(device):
        trainer = build_trainer(cfg, mixed=mixed, xla=xla)
        ds = tf.data.Dataset.from_tensors(synthetic_batch(trainer, batch_size)).repeat()
        with Timer() as first:
            trainer.fit(ds, epochs=1, steps_per_epoch=warmup, verbose=0)  # trace + compile + warm-up
        with Timer() as t:
            trainer.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0)
    # CPU seconds (all threads) per step: comparable between variants even on a machine others load
    return {"examples_per_s": batch_size * steps / t.wall, "step_ms": 1000 * t.wall / steps,
            "first_call_s": first.wall, "cpu_ms_per_step": 1000 * t.cpu / steps}


def bench_variants(args) -> int:
    """One training-step row per Table 1 variant on the CPU, relative to Backbone^T at the same batch."""
    from keras_au.models.rtatl.config import VARIANTS, make_config

    machine = machine_info()
    names = list(VARIANTS) if args.variants == "all" else args.variants.split(",")
    steps = args.steps or 3
    rows = []
    for name in names:
        cfg = make_config(name, args.preset, overrides={"roi_impl": args.roi_impl})
        r = bench_train(cfg, "/CPU:0", False, False, args.batch_size, steps, args.warmup)
        rows.append({"variant": name, "batch": args.batch_size, **r})
        print(rows[-1], flush=True)
    base = next((r for r in rows if r["variant"] == "backbone_t"), rows[0])
    print(f"\nTable 1 variants, CPU train step ({args.preset} preset, batch {args.batch_size}, {steps} timed steps; "
          f"relative = CPU time per step / {base['variant']}'s)")
    print(f"{'variant':11s} {'ms/step':>9s} {'CPU ms':>9s} {'relative':>9s}")
    for r in rows:
        r["relative_cpu"] = r["cpu_ms_per_step"] / base["cpu_ms_per_step"]
        print(f"{r['variant']:11s} {r['step_ms']:9.0f} {r['cpu_ms_per_step']:9.0f} {r['relative_cpu']:9.2f}")
    out = write_results(os.path.join(os.path.dirname(args.out), "rtatl_variants.json"),
                        {"preset": args.preset, "batch": args.batch_size, "steps": steps, "rows": rows}, machine)
    print(f"wrote {out}")
    return 0


def bench_scaling(args) -> int:
    """Training images/s under MirroredStrategy for 1..N replicas at a fixed per-replica batch."""
    import tensorflow as tf

    from keras_au.distribute import Distribution
    from keras_au.models.rtatl.config import make_config
    from keras_au.models.rtatl.task import build_trainer

    machine = machine_info()
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in gpus] if gpus else [d.name for d in tf.config.list_logical_devices("CPU")]
    counts = sorted({n for n in (1, 2, 4, 8, len(devices)) if n <= len(devices)})
    xla = args.xla == "on"
    steps = args.steps or (20 if gpus else 3)
    rows = []
    for n in counts:
        ops = None if gpus else tf.distribute.ReductionToOneDevice()  # NCCL on GPUs, one-device sums on CPU
        strategy = tf.distribute.MirroredStrategy(devices[:n], cross_device_ops=ops)
        dist = Distribution("mirrored", strategy, n, sync_bn=n > 1)
        cfg = make_config(args.model, args.preset, overrides={"roi_impl": args.roi_impl})
        glob = args.batch_size * n
        trainer = build_trainer(cfg, mixed=args.mixed_precision, xla=xla, dist=dist)
        ds = tf.data.Dataset.from_tensors(synthetic_batch(trainer, glob)).repeat()
        with Timer() as first:
            trainer.fit(ds, epochs=1, steps_per_epoch=args.warmup, verbose=0)
        with Timer() as t:
            trainer.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0)
        rows.append({"replicas": n, "device": "gpu" if gpus else "cpu", "global_batch": glob,
                     "examples_per_s": glob * steps / t.wall, "step_ms": 1000 * t.wall / steps,
                     "first_call_s": first.wall})
        print(rows[-1], flush=True)
    base = rows[0]["examples_per_s"]
    for r in rows:
        r["scaling"] = r["examples_per_s"] / (base * r["replicas"])  # 1.0 = linear
    kind = "GPU" if gpus else f"CPU ({args.cpu_replicas} logical devices on {os.cpu_count()} cores)"
    print(f"\nRTATL {args.model} mirrored on {kind}, {args.preset} preset, batch {args.batch_size}/replica, "
          f"XLA {'on' if xla else 'off'}, mixed precision {'on' if args.mixed_precision else 'off'}")
    print(f"{'replicas':>8s} {'global':>7s} {'images/s':>9s} {'ms/step':>9s} {'scaling':>8s}")
    for r in rows:
        print(f"{r['replicas']:8d} {r['global_batch']:7d} {r['examples_per_s']:9.1f} {r['step_ms']:9.1f} "
              f"{r['scaling']:8.2f}")
    if not gpus:
        print("GPU rows: not measured (no GPU visible)")
    out = write_results(os.path.join(os.path.dirname(args.out), "rtatl_scaling.json"),
                        {"model": args.model, "preset": args.preset, "batch_per_replica": args.batch_size, "xla": xla,
                         "mixed_precision": args.mixed_precision, "rows": rows,
                         "gpu_rows": None if gpus else "not measured: no GPU lent",
                         "goal": ">= 500 images/s on one H100-class GPU (paper preset), >= 0.9x linear to 2 GPUs"},
                        machine)
    print(f"wrote {out}")
    return 0


def bench_inference(cfg, device: str, xla: bool, mixed: bool, batch_size: int, steps: int, warmup: int) -> dict:
    import tensorflow as tf

    from keras_au.models.rtatl.task import build_trainer

    with tf.device(device):
        trainer = build_trainer(cfg, mixed=mixed, compile=False)
        b = synthetic_batch(trainer, batch_size)
        inputs = {"image": tf.constant(b["image"]), "landmarks": tf.constant(b["landmarks"])}
        fn = tf.function(lambda x: trainer.backbone(x, training=False), jit_compile=xla)
        for _ in range(warmup):
            fn(inputs).numpy()
        with Timer() as t:
            for _ in range(steps):
                fn(inputs).numpy()
    return {"faces_per_s": batch_size * steps / t.wall, "latency_ms": 1000 * t.wall / steps}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="rtatl", help="variant: rtatl, backbone_t, backbone_g, ofe, roii")
    p.add_argument("--preset", default="paper", choices=["paper", "demo", "ci"])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 20 on GPU, 3 on CPU)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--xla", choices=["off", "on", "both"], default="both")
    p.add_argument("--device", choices=["cpu", "gpu", "all"], default="all")
    p.add_argument("--mixed-precision", action="store_true", help="mixed_float16 on GPU / mixed_bfloat16 on CPU")
    p.add_argument("--inference-batches", default="1,32")
    p.add_argument("--roi-impl", choices=["auto", "grouped", "split"], default="auto",
                   help="RoI modules as one grouped conv or per-AU convs (auto: grouped when a GPU is visible)")
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--skip-inference", action="store_true")
    p.add_argument("--device-check", action="store_true", help="print the visible devices and exit")
    p.add_argument("--variants", help="'all' or a comma list: CPU train-step cost per Table 1 variant vs backbone_t")
    p.add_argument("--distribute", choices=["mirrored"], help="replica-scaling rows under MirroredStrategy")
    p.add_argument("--cpu-replicas", type=int, metavar="N", help="with --distribute on CPU: N logical devices")
    p.add_argument("--out", default=results_path("rtatl"))
    args = p.parse_args(argv)

    import tensorflow as tf

    if args.distribute:
        if args.cpu_replicas:
            from keras_au.distribute import configure_cpu_replicas

            if tf.config.list_physical_devices("GPU"):
                p.error("--cpu-replicas is for CPU-only machines")
            configure_cpu_replicas(args.cpu_replicas)  # before TF initialises
        if args.xla == "both":
            args.xla = "off"
        return bench_scaling(args)

    from keras_au.models.rtatl.config import make_config

    if args.variants:
        return bench_variants(args)
    machine = machine_info()
    if args.device_check:
        print(json.dumps(machine, indent=2))
        return 0
    gpus = machine["gpus"]
    devices = []
    if args.device in ("cpu", "all"):
        devices.append("/CPU:0")
    if args.device in ("gpu", "all") and gpus:
        devices.append("/GPU:0")
    if args.device == "gpu" and not gpus:
        print("no GPU visible", file=sys.stderr)
        return 1
    xlas = {"off": [False], "on": [True], "both": [False, True]}[args.xla]
    cfg = make_config(args.model, args.preset, overrides={"roi_impl": args.roi_impl})
    rows = []
    for device in devices:
        steps = args.steps or (20 if "GPU" in device else 3)
        for xla in xlas:
            if not args.skip_train:
                r = bench_train(cfg, device, xla, args.mixed_precision, args.batch_size, steps, args.warmup)
                rows.append({"what": "train_step", "device": device, "xla": xla, "batch": args.batch_size, **r})
                print(rows[-1], flush=True)
            if not args.skip_inference:
                for bs in (int(x) for x in args.inference_batches.split(",")):
                    r = bench_inference(cfg, device, xla, args.mixed_precision, bs, max(steps * 5, 10), args.warmup)
                    rows.append({"what": "inference", "device": device, "xla": xla, "batch": bs, **r})
                    print(rows[-1], flush=True)

    print(f"\nRTATL {args.model} ({args.preset} preset, {cfg.model.input_size}x{cfg.model.input_size}, "
          f"mixed precision {'on' if args.mixed_precision else 'off'}, RoI modules {args.roi_impl})")
    print(f"{'what':11s} {'device':7s} {'xla':4s} {'batch':>5s} {'per s':>9s} {'ms/step':>9s}")
    for r in rows:
        rate = r.get("examples_per_s", r.get("faces_per_s"))
        ms = r.get("step_ms", r.get("latency_ms"))
        print(f"{r['what']:11s} {r['device'][1:4]:7s} {'on' if r['xla'] else 'off':4s} {r['batch']:5d} "
              f"{rate:9.1f} {ms:9.1f}")
    result = {"model": args.model, "preset": args.preset, "input_size": cfg.model.input_size, "roi_impl": args.roi_impl,
              "mixed_precision": args.mixed_precision, "rows": rows,
              "goal": "H100, paper preset, batch 32: >= 500 training images/s"}
    print(f"wrote {write_results(args.out, result, machine)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
