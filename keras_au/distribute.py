"""Training past one device: one ``tf.distribute`` set-up shared by both model families.

* :func:`resolve` turns ``--distribute {none,mirrored,multiworker}`` (+ ``--cpu-replicas N``) into a
  :class:`Distribution`: the strategy, its replica count, whether this process is the chief (the only writer)
  and whether BatchNorm is synchronised across replicas.
* Loss convention under a strategy: every loss term a replica computes is its **share** of the global-batch
  value, so summing shares over replicas gives the loss of the whole global batch and the optimizers'
  all-reduce (a sum of gradients) gives its gradient. Masked means divide the local numerator by the
  **global** count of selected items (:func:`global_sum` of the denominators); plain means divide by the
  replica count (:func:`global_mean`; per-replica batches are equal: global batch / replicas). With one
  replica every share is the whole value, so single-device training is unchanged.
* Mixed precision: :func:`mixed_policy` picks ``mixed_float16`` on GPU and ``mixed_bfloat16`` elsewhere;
  :func:`loss_scaled` wraps an optimizer in ``LossScaleOptimizer`` exactly when the policy is float16.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
from typing import Iterator, Optional

import keras
import tensorflow as tf

STRATEGIES = ("none", "mirrored", "multiworker")


# -- the strategy ------------------------------------------------------------------------------------
@dataclasses.dataclass
class Distribution:
    """A resolved strategy and what the training code needs to know about it."""

    kind: str
    strategy: tf.distribute.Strategy
    replicas: int
    workers: int = 1
    task_type: Optional[str] = None
    task_id: Optional[int] = None
    is_chief: bool = True
    sync_bn: bool = False
    cpu_replicas: Optional[int] = None
    resolver: Optional[str] = None  # "TF_CONFIG" or "SLURM" for multiworker

    def scope(self):
        return self.strategy.scope()

    def describe(self) -> dict:
        """What ``run.json`` records."""
        return {"strategy": self.kind, "strategy_class": type(self.strategy).__name__, "replicas": self.replicas,
                "workers": self.workers, "sync_bn": self.sync_bn, "cpu_replicas": self.cpu_replicas,
                "cluster_resolver": self.resolver}

    def check_batch(self, global_batch: int, what: str = "batch size") -> int:
        """Per-replica batch; the global batch must split evenly (the loss shares assume equal batches)."""
        if global_batch % self.replicas:
            raise ValueError(f"{what} {global_batch} does not split over {self.replicas} replicas; "
                             f"use a multiple of {self.replicas}")
        return global_batch // self.replicas

    def prepare_dataset(self, ds: tf.data.Dataset) -> tf.data.Dataset:
        """Workers shard by data, not files: a fold may hold fewer shard files than there are workers."""
        if self.workers > 1:
            opts = tf.data.Options()
            opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
            ds = ds.with_options(opts)
        return ds

    @contextlib.contextmanager
    def write_dir(self, out: str) -> Iterator[str]:
        """``out`` on the chief; on other workers a scratch directory removed afterwards.

        Every worker still runs the save code (reading distributed variables can be a collective that all
        workers must join), but only the chief's files land in the run directory.
        """
        if self.is_chief:
            yield out
            return
        scratch = tempfile.mkdtemp(prefix=f"keras-au-{self.task_type}-{self.task_id}-")
        try:
            yield scratch
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def configure_cpu_replicas(n: int) -> None:
    """Splits the CPU into ``n`` logical devices (for ``mirrored`` tests); must run before TF initialises."""
    if n < 1:
        raise ValueError(f"--cpu-replicas must be >= 1, got {n}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == n:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError as e:
        have = len(tf.config.list_logical_devices("CPU"))
        raise ValueError(f"--cpu-replicas {n}: TensorFlow is already initialised with {have} CPU device(s); "
                         "logical devices must be configured before the first TF operation") from e


def cluster_resolver(env: Optional[dict] = None):
    """(resolver, name): ``TF_CONFIG`` (Kubeflow TFJob, Vertex worker pools) first, then SLURM."""
    env = os.environ if env is None else env
    raw = env.get("TF_CONFIG")
    if raw:
        try:
            spec = json.loads(raw)
        except json.JSONDecodeError as e:
            raise ValueError(f"TF_CONFIG is not JSON: {e}") from e
        if not isinstance(spec, dict) or not spec.get("cluster") or "task" not in spec:
            raise ValueError("TF_CONFIG needs 'cluster' and 'task' (e.g. {\"cluster\": {\"worker\": [\"host:port\", "
                             "...]}, \"task\": {\"type\": \"worker\", \"index\": 0}})")
        return tf.distribute.cluster_resolver.TFConfigClusterResolver(), "TF_CONFIG"
    if env.get("SLURM_JOB_ID") and env.get("SLURM_PROCID") is not None:
        # One TF worker per SLURM task; the resolver reads the node list and task layout from SLURM's variables.
        return tf.distribute.cluster_resolver.SlurmClusterResolver(), "SLURM"
    raise ValueError("--distribute multiworker needs a cluster: set TF_CONFIG (Kubeflow TFJob / Vertex set it) "
                     "or run under SLURM (srun); for one machine use --distribute mirrored")


def chief_in_env(env: Optional[dict] = None) -> bool:
    """Whether this process is the chief according to ``TF_CONFIG`` (True without one)."""
    raw = (os.environ if env is None else env).get("TF_CONFIG")
    if not raw:
        return True
    spec = json.loads(raw)
    task = spec.get("task", {})
    return _is_chief(task.get("type"), task.get("index"), spec.get("cluster", {}))


def _is_chief(task_type: Optional[str], task_id: Optional[int], cluster: dict) -> bool:
    if task_type in (None, "", "chief", "master"):
        return True
    return task_type == "worker" and int(task_id or 0) == 0 and not any(k in cluster for k in ("chief", "master"))


def resolve(kind: Optional[str] = "none", cpu_replicas: Optional[int] = None,
            sync_bn: Optional[bool] = None) -> Distribution:
    """The strategy for ``--distribute``; call before any other TF work (multiworker and CPU replicas need it)."""
    kind = kind or "none"
    if kind not in STRATEGIES:
        raise ValueError(f"--distribute must be one of {', '.join(STRATEGIES)}, got {kind!r}")
    if cpu_replicas is not None:
        if kind != "mirrored":
            raise ValueError("--cpu-replicas splits the CPU into logical devices for --distribute mirrored only")
        if tf.config.list_physical_devices("GPU"):
            raise ValueError("--cpu-replicas is for CPU-only testing; this machine has GPUs: "
                             "drop it and mirrored uses every GPU")
        configure_cpu_replicas(int(cpu_replicas))
    if kind == "none":
        strategy = tf.distribute.get_strategy()
        return Distribution("none", strategy, 1, sync_bn=bool(sync_bn))
    if kind == "mirrored":
        if cpu_replicas is not None:
            devices = [d.name for d in tf.config.list_logical_devices("CPU")][: int(cpu_replicas)]
            # NCCL is GPU-only; on CPU devices the reduction goes through one device.
            strategy = tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
        else:
            strategy = tf.distribute.MirroredStrategy()
        n = strategy.num_replicas_in_sync
        return Distribution("mirrored", strategy, n, sync_bn=n > 1 if sync_bn is None else bool(sync_bn),
                            cpu_replicas=cpu_replicas)
    resolver, name = cluster_resolver()
    strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
    cluster = resolver.cluster_spec().as_dict()
    workers = sum(len(v) for k, v in cluster.items() if k in ("chief", "master", "worker"))
    n = strategy.num_replicas_in_sync
    return Distribution("multiworker", strategy, n, workers=max(workers, 1), task_type=resolver.task_type,
                        task_id=resolver.task_id, is_chief=_is_chief(resolver.task_type, resolver.task_id, cluster),
                        sync_bn=n > 1 if sync_bn is None else bool(sync_bn), resolver=name)


# -- global-batch reductions (inside a replica's step) -------------------------------------------------
def num_replicas() -> int:
    """Replicas of the step being traced; 1 outside a strategy and in cross-replica code (e.g. a probe)."""
    ctx = tf.distribute.get_replica_context()
    return 1 if ctx is None else int(ctx.num_replicas_in_sync)


def global_sum(x):
    """Sum of ``x`` over all replicas (identity with one replica); no gradient flows through it."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return x
    return tf.stop_gradient(ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.stop_gradient(x)))


def global_mean(x):
    """This replica's share of the global-batch mean of ``x`` (the per-replica batches are equal)."""
    return keras.ops.mean(keras.ops.cast(x, "float32")) / float(num_replicas())


def global_value(share):
    """The global-batch value of a loss share (for logging: every replica then logs the same number)."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return share
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.stop_gradient(share))


def replica_uniform(batch, seed, minval=0, maxval=None, dtype=tf.float32):
    """``stateless_uniform((batch,))`` drawn for the whole global batch, this replica's slice.

    Keras splits each global batch into consecutive per-replica chunks in replica order, so every example
    gets the same random draw as in a single-device run at that global batch.
    """
    ctx = tf.distribute.get_replica_context()
    n = 1 if ctx is None else ctx.num_replicas_in_sync
    if n == 1:
        return tf.random.stateless_uniform((batch,), seed, minval, maxval, dtype=dtype)
    rid = tf.cast(ctx.replica_id_in_sync_group, tf.int32)
    draw = tf.random.stateless_uniform((batch * n,), seed, minval, maxval, dtype=dtype)
    return draw[rid * batch:(rid + 1) * batch]


# -- BatchNorm and mixed precision ---------------------------------------------------------------------
def _layers(obj, seen: set) -> Iterator[keras.layers.Layer]:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, keras.layers.Layer):
        yield obj
        children = vars(obj).values()
    elif isinstance(obj, (list, tuple)):
        children = obj
    elif isinstance(obj, dict):
        children = obj.values()
    else:
        return
    for child in children:
        if isinstance(child, (keras.layers.Layer, list, tuple, dict)):
            yield from _layers(child, seen)


def set_sync_batchnorm(model: keras.layers.Layer, synchronized: bool = True) -> int:
    """Sets ``synchronized`` on every BatchNormalization under ``model`` (read when the step is traced, so
    call before training); returns how many. Synchronised BN uses the global batch's moments, so a
    mirrored run computes what one device computes on the same global batch."""
    n = 0
    for layer in _layers(model, set()):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = bool(synchronized)
            n += 1
    return n


def fit_ready(model: keras.Model) -> keras.Model:
    """Prepares a custom-step trainer for ``fit`` under a strategy.

    * No symbolic build: the trainers create every variable before ``fit`` (their ``call`` is not the training
      graph, so Keras' build from a reduced data batch fails, and MultiWorkerMirroredStrategy cannot reduce a
      dict batch for it). Keras has no public switch, hence the instance-level override of its TF-trainer hook.
    * Step outputs: every logged loss is already the all-reduced global value; epoch logs and history come
      from the metrics themselves (summed over replicas) either way.
    """
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    model.distribute_reduction_method = "first"
    if isinstance(model.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
        # Keras' fit reduces step outputs across workers with reduce(MEAN, axis=0), which scalar logs lack.
        step = model.train_step

        def train_step(data):
            return {k: tf.expand_dims(v, 0) for k, v in step(data).items()}

        model.train_step = train_step
    return model


def mixed_policy(mixed) -> Optional[str]:
    """``--mixed-precision``: True -> mixed_float16 on GPU, mixed_bfloat16 elsewhere; a policy name is kept."""
    if not mixed:
        return None
    if isinstance(mixed, str):
        name = mixed if mixed.startswith("mixed_") else f"mixed_{mixed}"
        if name not in ("mixed_float16", "mixed_bfloat16"):
            raise ValueError(f"mixed precision must be float16 or bfloat16, got {mixed!r}")
        return name
    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"


@contextlib.contextmanager
def precision_policy(mixed):
    """Builds layers under :func:`mixed_policy` and restores the global policy afterwards."""
    previous = keras.config.dtype_policy()
    name = mixed_policy(mixed)
    if name:
        keras.config.set_dtype_policy(name)
    try:
        yield name
    finally:
        keras.config.set_dtype_policy(previous)


def loss_scaled(optimizer: keras.optimizers.Optimizer, policy_name: str) -> keras.optimizers.Optimizer:
    """``LossScaleOptimizer`` under mixed_float16 (float16 gradients underflow); unchanged otherwise."""
    if policy_name == "mixed_float16" and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def rescale_gradients(grads: list, scaled_by: keras.optimizers.Optimizer, for_optimizer: keras.optimizers.Optimizer):
    """Gradients of ``scaled_by.scale_loss(loss)`` rescaled to ``for_optimizer.scale_loss(loss)``'s.

    One backward pass can feed two loss-scaled optimizers (each keeps its own dynamic scale); the second
    one's ``apply`` then unscales by its own factor. No-op unless either optimizer scales.
    """
    scaling = keras.optimizers.LossScaleOptimizer
    if not isinstance(scaled_by, scaling) and not isinstance(for_optimizer, scaling):
        return grads
    factor = for_optimizer.scale_loss(tf.constant(1.0)) / scaled_by.scale_loss(tf.constant(1.0))
    return [None if g is None else g * tf.cast(factor, g.dtype) for g in grads]
