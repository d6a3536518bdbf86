"""Vector envs across processes, several envs per process.

:class:`MultiprocVecEnv` is stable-baselines3's ``SubprocVecEnv`` protocol with a group of envs
(an SB3 ``DummyVecEnv``) in each worker process instead of a single env. Measured here on the
A1 trot env: each synchronous step of a 2-process ``SubprocVecEnv`` with one env per process
cost 1.8 ms of inter-process round trip and waiting-for-the-slowest on top of a 4.7 ms env step
(27 % lost); with k envs per process that cost is paid once per k env steps, and the step-time
spread (resets, contact-rich falls) averages out over the group.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv
from stable_baselines3.common.vec_env.base_vec_env import CloudpickleWrapper


def _slim(infos: list[dict], keys: frozenset[str] | None) -> list[dict]:
    """Only the info entries the parent uses (``keys``; None keeps everything)."""
    if keys is None:
        return infos
    return [{k: v for k, v in info.items() if k in keys} for info in infos]


def _group_worker(remote: Any, parent_remote: Any, fns: CloudpickleWrapper,
                  info_keys: frozenset[str] | None = None) -> None:
    """Worker loop: owns a DummyVecEnv of its envs and answers the parent's commands."""
    parent_remote.close()
    envs = DummyVecEnv(fns.var)
    try:
        while True:
            try:
                cmd, data = remote.recv()
            except EOFError:
                break
            if cmd == "step":
                envs.step_async(data)
                obs, rews, dones, infos = envs.step_wait()
                remote.send((obs, rews, dones, _slim(infos, info_keys)))
            elif cmd == "reset":
                seeds, options = data
                for i, (seed, opt) in enumerate(zip(seeds, options, strict=True)):
                    envs._seeds[i] = seed  # DummyVecEnv's own seed slots
                    envs._options[i] = opt
                remote.send((envs.reset(), envs.reset_infos))
            elif cmd == "get_spaces":
                remote.send((envs.observation_space, envs.action_space))
            elif cmd == "get_attr":
                remote.send(envs.get_attr(data[0], data[1]))
            elif cmd == "has_attr":
                remote.send(envs.has_attr(data))
            elif cmd == "set_attr":
                remote.send(envs.set_attr(data[0], data[1], data[2]))
            elif cmd == "env_method":
                name, args, kwargs, idx = data
                remote.send(envs.env_method(name, *args, indices=idx, **kwargs))
            elif cmd == "is_wrapped":
                remote.send(envs.env_is_wrapped(data[0], data[1]))
            elif cmd == "render":
                remote.send(envs.get_images())
            elif cmd == "close":
                break
            else:
                raise NotImplementedError(cmd)
    except KeyboardInterrupt:
        pass
    finally:
        envs.close()
        remote.close()


def _stack(obs: Sequence[Any]) -> Any:
    if isinstance(obs[0], dict):
        return {k: np.concatenate([o[k] for o in obs]) for k in obs[0]}
    return np.concatenate(obs)


class MultiprocVecEnv(VecEnv):
    """``num_envs`` envs in ``num_workers`` processes (env i lives in worker i // per_worker).

    Args:
        env_fns: One env constructor per env.
        num_workers: Worker processes; the envs are split into contiguous equal groups.
        start_method: multiprocessing start method ("forkserver" is safe with torch).
        info_keys: Step info entries sent back to this process (None: all). Unpickling the
            full infos (dynamics dict, contacts, errors) was a third of this process's time
            per step, time in which the workers wait.
    """

    def __init__(self, env_fns: list[Callable[[], gym.Env]], num_workers: int,
                 start_method: str = "forkserver",
                 info_keys: Sequence[str] | None = None) -> None:
        n = len(env_fns)
        if not 1 <= num_workers <= n or n % num_workers:
            raise ValueError(f"{n} envs cannot be split evenly over {num_workers} workers")
        self.per_worker = n // num_workers
        ctx = mp.get_context(start_method)
        self.remotes, self.processes = [], []
        for w in range(num_workers):
            remote, work = ctx.Pipe()
            fns = env_fns[w * self.per_worker:(w + 1) * self.per_worker]
            keys = None if info_keys is None else frozenset(info_keys)
            proc = ctx.Process(target=_group_worker,
                               args=(work, remote, CloudpickleWrapper(fns), keys), daemon=True)
            proc.start()
            work.close()
            self.remotes.append(remote)
            self.processes.append(proc)
        self.remotes[0].send(("get_spaces", None))
        obs_space, act_space = self.remotes[0].recv()
        self.waiting = False
        self.closed = False
        super().__init__(n, obs_space, act_space)

    def _split(self, indices: Any) -> dict[int, list[int]]:
        by_worker: dict[int, list[int]] = {}
        for i in self._get_indices(indices):
            by_worker.setdefault(i // self.per_worker, []).append(i % self.per_worker)
        return by_worker

    def step_async(self, actions: np.ndarray) -> None:
        """Send each worker its group's actions."""
        k = self.per_worker
        for w, remote in enumerate(self.remotes):
            remote.send(("step", actions[w * k:(w + 1) * k]))
        self.waiting = True

    def step_wait(self) -> tuple[Any, np.ndarray, np.ndarray, list[dict]]:
        """Gather and concatenate the groups' results (SB3 auto-reset semantics)."""
        results = [remote.recv() for remote in self.remotes]
        self.waiting = False
        obs, rews, dones, infos = zip(*results, strict=True)
        return (_stack(obs), np.concatenate(rews), np.concatenate(dones),
                [i for group in infos for i in group])

    def reset(self) -> Any:
        """Reset every env (with the seeds/options set through ``seed``/``set_options``)."""
        k = self.per_worker
        for w, remote in enumerate(self.remotes):
            remote.send(("reset", (self._seeds[w * k:(w + 1) * k],
                                   self._options[w * k:(w + 1) * k])))
        results = [remote.recv() for remote in self.remotes]
        self.reset_infos = [i for _, infos in results for i in infos]
        self._reset_seeds()
        self._reset_options()
        return _stack([obs for obs, _ in results])

    def close(self) -> None:
        """Stop the workers (idempotent)."""
        if self.closed:
            return
        if self.waiting:
            for remote in self.remotes:
                remote.recv()
        for remote in self.remotes:
            remote.send(("close", None))
        for proc in self.processes:
            proc.join(timeout=30)
        for remote in self.remotes:
            remote.close()
        self.closed = True

    def _call(self, cmd: str, make: Callable[[list[int]], Any], indices: Any) -> list[Any]:
        parts = self._split(indices)
        for w, local in parts.items():
            self.remotes[w].send((cmd, make(local)))
        out: list[Any] = []
        for w in parts:
            out.extend(self.remotes[w].recv())
        return out

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        """Attribute of each selected env."""
        return self._call("get_attr", lambda loc: (attr_name, loc), indices)

    def has_attr(self, attr_name: str) -> bool:
        """Whether every env has the attribute."""
        for remote in self.remotes:
            remote.send(("has_attr", attr_name))
        return all(remote.recv() for remote in self.remotes)

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        """Set an attribute on each selected env."""
        parts = self._split(indices)
        for w, local in parts.items():
            self.remotes[w].send(("set_attr", (attr_name, value, local)))
        for w in parts:
            self.remotes[w].recv()

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None,
                   **method_kwargs: Any) -> list[Any]:
        """Call a method of each selected env; returns the results in env order."""
        return self._call("env_method",
                          lambda loc: (method_name, method_args, method_kwargs, loc), indices)

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: Any = None) -> list[bool]:
        """Whether each selected env is wrapped with ``wrapper_class``."""
        return self._call("is_wrapped", lambda loc: (wrapper_class, loc), indices)

    def get_images(self) -> Sequence[np.ndarray | None]:
        """Rendered frames of every env."""
        for remote in self.remotes:
            remote.send(("render", None))
        return [img for remote in self.remotes for img in remote.recv()]


TRAINING_INFO_KEYS = ("reward_terms", "episode", "terminal_observation", "TimeLimit.truncated")
"""Step info entries training uses: reward logging, Monitor episodes, SB3 auto-reset."""


def _make(motion: str, robot: str, seed: int, kwargs: dict[str, Any]) -> Callable[[], gym.Env]:
    def thunk() -> gym.Env:
        import sim_training  # noqa: F401 - registers the env in the worker process

        env = gym.make("quadmimic/Imitation-v0", motion=motion, robot=robot, seed=seed,
                       **kwargs)
        return Monitor(env)

    return thunk


def make_vec_env(
    motion: str | Path,
    robot: str = "a1",
    num_envs: int = 2,
    seed: int = 0,
    num_workers: int | None = None,
    info_keys: Sequence[str] | None = None,
    **kwargs: Any,
) -> VecEnv:
    """``num_envs`` imitation envs (each wrapped in SB3's Monitor) across processes.

    Args:
        motion: Motion file.
        robot: Robot name.
        num_envs: Number of envs.
        seed: Env ``i`` is seeded ``seed + i``.
        num_workers: Processes (must divide ``num_envs``); None = ``num_envs`` (one env per
            process); 0 = all envs in this process (DummyVecEnv).
        info_keys: With worker processes: the step info entries to send back (None: all).
        **kwargs: Passed to the env (``randomize``, ``dynamics``, ``config``).

    Returns:
        A stable-baselines3 VecEnv.
    """
    fns = [_make(str(motion), robot, seed + i, kwargs) for i in range(num_envs)]
    workers = num_envs if num_workers is None else num_workers
    if workers == 0:
        return DummyVecEnv(fns)
    return MultiprocVecEnv(fns, workers, info_keys=info_keys)
