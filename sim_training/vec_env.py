"""Vector envs across processes, several envs per process, steppable group by group.

:class:`MultiprocVecEnv` is stable-baselines3's ``SubprocVecEnv`` protocol with several envs
(SB3 ``DummyVecEnv`` groups) in each worker process instead of a single env. Measured here on
the A1 trot env: each synchronous step of a 2-process ``SubprocVecEnv`` with one env per process
cost 1.8 ms of inter-process round trip and waiting-for-the-slowest on top of a 4.7 ms env step
(27 % lost); with k envs per process that cost is paid once per k env steps.

Synchronous stepping still lost 12–17 % with 4 envs per process: per step, 6–7 % of the time
one worker waited for the other (step times vary with contacts, falls and resets) and 3–5 %
both waited for the parent (pipe round trips, which take 0.2 ms at the median on these VMs,
and the parent's own work). So each worker's envs are split into groups that are stepped one
command at a time (:meth:`MultiprocVecEnv.step_group_async`, :meth:`step_group_wait`): with
two groups per worker, the parent handles one group's results (normalisation, the policy)
while the worker steps the other, and the workers never wait for each other. SB3's
synchronous ``step`` is the special case of sending every group and waiting for all.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
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
                  info_keys: frozenset[str] | None = None, num_groups: int = 1) -> None:
    """Worker loop: owns ``num_groups`` DummyVecEnv groups of its envs; answers commands.

    A ``step`` command names one group; its answer is that group's step. Every other command
    addresses the worker's envs by worker-local index.
    """
    parent_remote.close()
    # Ctrl-C reaches the whole process group: the parent decides when to stop (at a step
    # boundary, with a checkpoint), so a worker must not die in the middle of one.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    size = len(fns.var) // num_groups
    groups = [DummyVecEnv(fns.var[j * size:(j + 1) * size]) for j in range(num_groups)]

    def each(local: list[int], method: str, *args: Any, **kwargs: Any) -> list[Any]:
        """``method`` of each addressed env's group, called for that env alone."""
        return [getattr(groups[i // size], method)(*args, indices=[i % size], **kwargs)
                for i in local]

    try:
        while True:
            try:
                cmd, data = remote.recv()
            except EOFError:
                break
            if cmd == "step":
                j, actions = data
                envs = groups[j]
                envs.step_async(actions)
                obs, rews, dones, infos = envs.step_wait()
                remote.send((obs, rews, dones, _slim(infos, info_keys)))
            elif cmd == "reset":
                seeds, options = data
                obs, infos = [], []
                for j, envs in enumerate(groups):
                    for i in range(size):
                        envs._seeds[i] = seeds[j * size + i]  # DummyVecEnv's own seed slots
                        envs._options[i] = options[j * size + i]
                    obs.append(envs.reset())
                    infos.extend(envs.reset_infos)
                remote.send((_stack(obs), infos))
            elif cmd == "get_spaces":
                remote.send((groups[0].observation_space, groups[0].action_space))
            elif cmd == "get_attr":
                name, local = data
                remote.send([r[0] for r in each(local, "get_attr", name)])
            elif cmd == "has_attr":
                remote.send(all(g.has_attr(data) for g in groups))
            elif cmd == "set_attr":
                name, value, local = data
                remote.send(each(local, "set_attr", name, value))
            elif cmd == "env_method":
                name, args, kwargs, local = data
                remote.send([r[0] for r in each(local, "env_method", name, *args, **kwargs)])
            elif cmd == "is_wrapped":
                cls, local = data
                remote.send([r[0] for r in each(local, "env_is_wrapped", cls)])
            elif cmd == "render":
                remote.send([img for g in groups for img in g.get_images()])
            elif cmd == "close":
                break
            else:
                raise NotImplementedError(cmd)
    except KeyboardInterrupt:
        pass
    finally:
        for envs in groups:
            envs.close()
        remote.close()


def _stack(obs: Sequence[Any]) -> Any:
    if isinstance(obs[0], dict):
        return {k: np.concatenate([o[k] for o in obs]) for k in obs[0]}
    return np.concatenate(obs)


class MultiprocVecEnv(VecEnv):
    """``num_envs`` envs in ``num_workers`` processes, each process's envs in groups.

    Env ``i`` is in group ``i // group_size``; group ``g`` lives in worker
    ``g // groups_per_worker``. Besides SB3's synchronous ``step``, groups can be stepped on
    their own (:meth:`step_group_async` / :meth:`step_group_wait`), as the training's
    rollout collection does.

    Args:
        env_fns: One env constructor per env.
        num_workers: Worker processes; the envs are split into contiguous equal parts.
        start_method: multiprocessing start method ("forkserver" is safe with torch).
        info_keys: Step info entries sent back to this process (None: all). Unpickling the
            full infos (dynamics dict, contacts, errors) was a third of this process's time
            per step, time in which the workers wait.
        groups_per_worker: Groups each worker's envs are split into.
    """

    def __init__(self, env_fns: list[Callable[[], gym.Env]], num_workers: int,
                 start_method: str = "forkserver",
                 info_keys: Sequence[str] | None = None, groups_per_worker: int = 1) -> None:
        n = len(env_fns)
        if num_workers < 1 or groups_per_worker < 1 or n % (num_workers * groups_per_worker):
            raise ValueError(f"{n} envs cannot be split evenly over {num_workers} workers × "
                             f"{groups_per_worker} groups")
        self.per_worker = n // num_workers
        self.groups_per_worker = groups_per_worker
        self.num_groups = num_workers * groups_per_worker
        self.group_size = n // self.num_groups
        ctx = mp.get_context(start_method)
        self.remotes, self.processes = [], []
        for w in range(num_workers):
            remote, work = ctx.Pipe()
            fns = env_fns[w * self.per_worker:(w + 1) * self.per_worker]
            keys = None if info_keys is None else frozenset(info_keys)
            proc = ctx.Process(target=_group_worker,
                               args=(work, remote, CloudpickleWrapper(fns), keys,
                                     groups_per_worker), daemon=True)
            proc.start()
            work.close()
            self.remotes.append(remote)
            self.processes.append(proc)
        self._in_flight: list[deque[int]] = [deque() for _ in range(num_workers)]
        self.remotes[0].send(("get_spaces", None))
        obs_space, act_space = self.remotes[0].recv()
        self.closed = False
        super().__init__(n, obs_space, act_space)

    def _split(self, indices: Any) -> dict[int, list[int]]:
        by_worker: dict[int, list[int]] = {}
        for i in self._get_indices(indices):
            by_worker.setdefault(i // self.per_worker, []).append(i % self.per_worker)
        return by_worker

    def group_indices(self, group: int) -> np.ndarray:
        """The env indices (group_size,) of a group."""
        return np.arange(group * self.group_size, (group + 1) * self.group_size)

    def step_group_async(self, group: int, actions: np.ndarray) -> None:
        """Send one group its actions (group_size, action_dim).

        The answer comes from :meth:`step_group_wait`; a worker steps its groups in the order
        they were sent.
        """
        w, j = divmod(group, self.groups_per_worker)
        self.remotes[w].send(("step", (j, actions)))
        self._in_flight[w].append(group)

    def step_group_wait(self) -> tuple[int, Any, np.ndarray, np.ndarray, list[dict]]:
        """The first group step to finish: (group, obs, rewards, dones, infos).

        Raises:
            RuntimeError: No group step is in flight.
        """
        busy = [r for r, q in zip(self.remotes, self._in_flight, strict=True) if q]
        if not busy:
            raise RuntimeError("step_group_wait: no group step in flight")
        remote = wait(busy)[0]
        w = self.remotes.index(remote)
        obs, rews, dones, infos = remote.recv()
        return self._in_flight[w].popleft(), obs, rews, dones, infos

    def _receive_all(self) -> dict[int, Any]:
        """Every group step in flight, received in each worker's order: {group: result}."""
        results = {}
        for w, remote in enumerate(self.remotes):
            while self._in_flight[w]:
                results[self._in_flight[w].popleft()] = remote.recv()
        return results

    @property
    def groups_in_flight(self) -> int:
        """Group steps sent and not yet received."""
        return sum(len(q) for q in self._in_flight)

    def step_async(self, actions: np.ndarray) -> None:
        """Send every group its actions."""
        k = self.group_size
        for g in range(self.num_groups):
            self.step_group_async(g, actions[g * k:(g + 1) * k])

    def step_wait(self) -> tuple[Any, np.ndarray, np.ndarray, list[dict]]:
        """Gather and concatenate every group's results (SB3 auto-reset semantics)."""
        results = self._receive_all()
        obs, rews, dones, infos = zip(*(results[g] for g in range(self.num_groups)),
                                      strict=True)
        return (_stack(obs), np.concatenate(rews), np.concatenate(dones),
                [i for group in infos for i in group])

    def reset(self) -> Any:
        """Reset every env (with the seeds/options set through ``seed``/``set_options``)."""
        if self.groups_in_flight:
            raise RuntimeError("reset with group steps in flight")
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
        self._receive_all()
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
    groups_per_worker: int = 1,
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
        groups_per_worker: With worker processes: groups each worker's envs are split into
            (see :class:`MultiprocVecEnv`).
        **kwargs: Passed to the env (``randomize``, ``dynamics``, ``config``).

    Returns:
        A stable-baselines3 VecEnv.
    """
    fns = [_make(str(motion), robot, seed + i, kwargs) for i in range(num_envs)]
    workers = num_envs if num_workers is None else num_workers
    if workers == 0:
        return DummyVecEnv(fns)
    return MultiprocVecEnv(fns, workers, info_keys=info_keys,
                           groups_per_worker=groups_per_worker)
