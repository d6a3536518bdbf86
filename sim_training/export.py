"""Export a bundle's actor (and encoder) to TorchScript and ONNX, with a parity check.

The exported actor takes the *raw* observation (normalisation is built in) and z, and returns
the deterministic action clipped to [-1, 1]: ``actor(obs (B, n_obs), z (B, z_dim)) -> (B, 12)``.
The encoder maps raw dynamics params to the latent mean: ``encoder(dynamics (B, 11)) -> (B, z)``.
The parity check runs both exports (TorchScript in torch, ONNX in onnxruntime) on random
inputs and compares them with the bundle's torch policy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch as th

from sim_training.bundle import PolicyBundle


class ExportedActor(th.nn.Module):
    """Normalisation + actor MLP + action head + clip, as one module."""

    def __init__(self, bundle: PolicyBundle) -> None:
        super().__init__()
        self.register_buffer("mean", th.as_tensor(bundle.obs_mean, dtype=th.float32))
        self.register_buffer("std", th.as_tensor(np.sqrt(bundle.obs_var + bundle.epsilon),
                                                 dtype=th.float32))
        self.clip = float(bundle.clip_obs)
        self.mlp = bundle.policy.mlp_extractor.policy_net
        self.head = bundle.policy.action_net
        self.z_dim = bundle.z_dim

    def forward(self, obs: th.Tensor, z: th.Tensor) -> th.Tensor:
        """Action (B, 12) from raw obs (B, n_obs) and z (B, z_dim; ignored if z_dim = 0)."""
        x = th.clamp((obs - self.mean) / self.std, -self.clip, self.clip)
        if self.z_dim:
            x = th.cat([x, z], dim=-1)
        return th.clamp(self.head(self.mlp(x)), -1.0, 1.0)


class ExportedEncoder(th.nn.Module):
    """Dynamics params (B, 11) → latent mean (B, z_dim)."""

    def __init__(self, bundle: PolicyBundle) -> None:
        super().__init__()
        self.encoder = bundle.policy.features_extractor.encoder

    def forward(self, dynamics: th.Tensor) -> th.Tensor:
        """The encoder's mean."""
        return self.encoder(dynamics)[0]


def export_bundle(bundle: PolicyBundle, out: str | Path, samples: int = 256,
                  seed: int = 0) -> dict[str, Any]:
    """Write ``actor.pt``/``actor.onnx`` (and the encoder's) to ``out``; check parity.

    Returns:
        The parity report (max abs differences), also written as ``export.json``.
    """
    import onnxruntime as ort

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_obs, zd = bundle.obs_mean.shape[0], max(bundle.z_dim, 1)
    obs = (bundle.obs_mean + rng.standard_normal((samples, n_obs)) * np.sqrt(bundle.obs_var))
    z = rng.standard_normal((samples, zd))
    obs_t, z_t = th.as_tensor(obs, dtype=th.float32), th.as_tensor(z, dtype=th.float32)
    actor = ExportedActor(bundle).eval()
    reference = np.stack([bundle.act(o, z=zz[:bundle.z_dim] if bundle.z_dim else None)
                          for o, zz in zip(obs, z, strict=True)])
    report: dict[str, Any] = {"samples": samples}
    with th.no_grad():
        scripted = th.jit.trace(actor, (obs_t[:1], z_t[:1]))
        scripted.save(str(out / "actor.pt"))
        th.onnx.export(actor, (obs_t[:1], z_t[:1]), str(out / "actor.onnx"),
                       input_names=["obs", "z"], output_names=["action"],
                       dynamic_axes={"obs": {0: "batch"}, "z": {0: "batch"},
                                     "action": {0: "batch"}}, dynamo=False)
        ts = th.jit.load(str(out / "actor.pt"))(obs_t, z_t).numpy()
    sess = ort.InferenceSession(str(out / "actor.onnx"), providers=["CPUExecutionProvider"])
    onnx_out = sess.run(None, {"obs": obs.astype(np.float32), "z": z.astype(np.float32)})[0]
    report["actor_torchscript_max_abs_diff"] = float(np.max(np.abs(ts - reference)))
    report["actor_onnx_max_abs_diff"] = float(np.max(np.abs(onnx_out - reference)))
    if bundle.z_dim:
        enc = ExportedEncoder(bundle).eval()
        dyn = th.as_tensor(rng.uniform(0.5, 1.5, (samples, 11)), dtype=th.float32)
        with th.no_grad():
            ref_z = enc(dyn).numpy()
            th.jit.trace(enc, (dyn[:1],)).save(str(out / "encoder.pt"))
            th.onnx.export(enc, (dyn[:1],), str(out / "encoder.onnx"), input_names=["dynamics"],
                           output_names=["z"], dynamic_axes={"dynamics": {0: "batch"},
                                                             "z": {0: "batch"}}, dynamo=False)
        esess = ort.InferenceSession(str(out / "encoder.onnx"),
                                     providers=["CPUExecutionProvider"])
        enc_onnx = esess.run(None, {"dynamics": dyn.numpy()})[0]
        report["encoder_onnx_max_abs_diff"] = float(np.max(np.abs(enc_onnx - ref_z)))
    report["parity_ok"] = all(v < 1e-5 for k, v in report.items() if k.endswith("diff"))
    (out / "export.json").write_text(json.dumps(report, indent=2))
    return report


class OnnxActor:
    """The bundle's actor in onnxruntime (one thread): the deploy loop's inference path.

    Measured here on the A1 actor (164 → 512 → 256 → 12): p50 0.066 ms / p99 0.099 ms a call,
    against 0.19 / 1.06 ms through the stable-baselines3 policy modules. Built from an
    in-memory export and checked against the torch policy at construction.

    Args:
        bundle: The policy.
        z: Latent used when a call gives none (default: the bundle's z, else zeros).
    """

    def __init__(self, bundle: PolicyBundle, z: np.ndarray | None = None) -> None:
        import io

        import onnxruntime as ort

        self.bundle = bundle
        zd = max(bundle.z_dim, 1)
        default = z if z is not None else (bundle.z if bundle.z is not None else np.zeros(zd))
        self.z = np.asarray(default, np.float32).reshape(1, -1)[:, :zd]
        if self.z.shape[1] < zd:
            self.z = np.zeros((1, zd), np.float32)
        actor = ExportedActor(bundle).eval()
        buf = io.BytesIO()
        obs0 = th.as_tensor(bundle.obs_mean, dtype=th.float32)[None]
        with th.no_grad():
            th.onnx.export(actor, (obs0, th.zeros(1, zd)), buf, input_names=["obs", "z"],
                           output_names=["action"], dynamo=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(buf.getvalue(), options,
                                            providers=["CPUExecutionProvider"])
        # A robust baseline's actor ignores z, so the exported graph has no z input.
        self._takes_z = "z" in {i.name for i in self.session.get_inputs()}
        check = self(bundle.obs_mean)
        expected = bundle.act(bundle.obs_mean, z=self.z[0, :bundle.z_dim] if bundle.z_dim
                              else None)
        if np.max(np.abs(check - expected)) > 1e-5:
            raise RuntimeError("ONNX actor disagrees with the torch policy")

    def __call__(self, obs: np.ndarray, z: np.ndarray | None = None) -> np.ndarray:
        """Deterministic action (12,) for a raw observation (n_obs,)."""
        obs = np.asarray(obs, np.float32).reshape(1, -1)
        if obs.shape[1] != self.bundle.obs_mean.shape[0] or not np.all(np.isfinite(obs)):
            raise ValueError("observation has the wrong size or non-finite values")
        feed = {"obs": obs}
        if self._takes_z:
            feed["z"] = self.z if z is None else np.asarray(z, np.float32).reshape(1, -1)
        return self.session.run(None, feed)[0][0].astype(np.float64)
