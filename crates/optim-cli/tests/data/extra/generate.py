#!/usr/bin/env python3
"""Generates the extra optax reference cases in this folder (see PROVENANCE.md).

Run with a Python that has optax 0.2.8 and jax 0.10.2 (CPU):

    python generate.py   # writes adafactor_large.json, scalar_3d.json, scalar_3d_issue11.json,
                         # scalar_3d_distance.json, scalar_3d_lbfgs.json,
                         # scalar_3d_muon.json
    python generate.py scalar_3d_issue11.json   # writes only the files named

The float64 cases run with `jax_enable_x64` on and the float32 cases with it off, as the
vendored reference set does; each dtype runs in its own child process (the flag is global).

The case format is the reference set's (tests/data/reference/README.md). Inputs (init,
problem.weight, problem.center) are rounded to 2 decimals so the files stay small. In the
expected traces, float64 numbers are written with 10 significant digits (at most 5e-11
relative from optax's value, 20 times inside the 1e-9 float64 tolerance) and float32 numbers as
the shortest decimal that reads back as the same float32.

Optimizers of optax.contrib (acprop, ademamix, ...) are looked up there when optax's main
namespace lacks them. An argument written `{"schedule": "<optax schedule>", ...}` (the case
format's schedule object) is given to optax as that schedule; adopt's `clip_value_fn`, a
function of the step count in optax, is given one this way too.

sm3 on a scalar leaf: optax 0.2.8 raises (IndexError) on 0-d leaves, and this project treats
a scalar as a 1-element vector (deviation 3 of the reference set). Its expected trace is
computed by giving optax that leaf as a shape-[1] array and reshaping the results back to
a scalar; every other optimizer gets the scalar as it is.
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# (file, id, optimizer, args, dtype, {leaf: shape}, steps, seed)
# w is factored with the default min_dim_size_to_factor = 128: its smaller axis sits exactly
# at the threshold, and its larger axis (d0) is the first one. (130x128 rather than the
# issue's example 256x130 keeps these files at half the size.)
LARGE = {"b": [128], "w": [130, 128]}
SMALL = {"s": [], "t": [2, 3, 4]}
MUON = {"m": [5, 3], "s": [], "t": [2, 3, 4]}


def specs():
    out = []
    big = [
        ("default", {"learning_rate": 0.02}),
        ("momentum_wd", {"learning_rate": 0.02, "momentum": 0.9, "weight_decay_rate": 0.01,
                          "weight_decay_mask": {"b": False, "w": True}}),
        ("unfactored", {"learning_rate": 0.02, "factored": False}),
    ]
    for dtype in ["float64", "float32"]:
        for name, args in big:
            out.append(("adafactor_large.json", f"adafactor/large_130x128/{name}/{dtype}",
                        "adafactor", args, dtype, LARGE, 3, 11))
    small = [
        ("lamb", "default", {"learning_rate": 0.02, "weight_decay": 0.05}),
        ("lars", "default", {"learning_rate": 0.5}),
        ("fromage", "default", {"learning_rate": 0.02}),
        ("novograd", "default", {"learning_rate": 0.02}),
        ("sm3", "default", {"learning_rate": 0.1}),
        ("adafactor", "default", {"learning_rate": 0.02}),
        ("adafactor", "factored_3d", {"learning_rate": 0.02, "min_dim_size_to_factor": 2,
                                      "momentum": 0.9}),
        ("polyak_sgd", "default", {}),
    ]
    for dtype in ["float64", "float32"]:
        for opt, name, args in small:
            out.append(("scalar_3d.json", f"{opt}/scalar_3d/{name}/{dtype}", opt, args, dtype,
                        SMALL, 10, 23))
    # The ten optimizers of issue 11 (optax main and optax.contrib) on the same leaves, with
    # non-default arguments and schedules where optax takes them.
    mask = {"s": False, "t": True}
    lin = lambda a, b, n: {"schedule": "linear_schedule", "init_value": a, "end_value": b,
                           "transition_steps": n}
    cos = lambda a, n, alpha: {"schedule": "cosine_decay_schedule", "init_value": a,
                               "decay_steps": n, "alpha": alpha}
    more = [
        ("adan", "masked_wd", {"learning_rate": 0.02, "weight_decay": 0.05, "mask": mask}),
        ("optimistic_adam", "default", {"learning_rate": 0.02}),
        ("optimistic_adam_v2", "variant", {"learning_rate": 0.02, "alpha": 0.5, "beta": 0.7}),
        ("sign_sgd", "default", {"learning_rate": 0.01}),
        ("signum", "variant", {"learning_rate": 0.01, "beta": 0.5}),
        ("acprop", "masked_wd", {"learning_rate": 0.02, "weight_decay": 0.05, "mask": mask}),
        ("ademamix", "variant", {"learning_rate": 0.02, "b3": 0.999, "alpha": 2.0}),
        ("ademamix", "schedules", {"learning_rate": 0.02, "alpha": lin(0.0, 5.0, 8),
                                   "b3": cos(0.999, 8, 0.5)}),
        ("simplified_ademamix", "alpha_schedule", {"learning_rate": 0.02, "b1": 0.9,
                                                   "alpha": lin(2.0, 0.0, 6)}),
        ("adopt", "default", {"learning_rate": 0.02}),
        ("adopt", "nesterov_noclip", {"learning_rate": 0.02, "nesterov": True,
                                      "use_clipping": False, "b2": 0.99}),
        ("adopt", "clip_schedule", {"learning_rate": 0.02, "clip_value_fn": lin(0.5, 2.0, 6)}),
        ("madgrad", "variant", {"learning_rate": 0.02, "momentum": 0.5, "weight_decay": 0.01}),
        ("madgrad", "lr_schedule", {"learning_rate": cos(0.05, 10, 0.1)}),
    ]
    for dtype in ["float64", "float32"]:
        for opt, name, args in more:
            out.append(("scalar_3d_issue11.json", f"{opt}/scalar_3d/{name}/{dtype}", opt, args,
                        dtype, SMALL, 10, 23))
    # The distance and state-estimating optimizers of issue 11 (optax.contrib), on the same
    # leaves: momo and momo_adam receive `value`, the schedule-free cases also record
    # `eval_params`, and mechanize's base optimizer is an expression.
    adam = {"fn": "adam", "args": {"learning_rate": 0.02}}
    distance = [
        ("cocob", "default", {}),
        ("cocob", "variant", {"alpha": 50.0, "weight_decay": 0.01}),
        ("dadapt_adamw", "variant", {"learning_rate": lin(1.0, 0.2, 10), "weight_decay": 0.01,
                                     "estim_lr0": 1e-3}),
        ("dog", "lr_init_masked_wd", {"init_step": ["learning_rate", 0.01],
                                      "weight_decay": 0.01, "mask": mask}),
        ("dowg", "default", {}),
        ("prodigy", "variant", {"betas": [0.8, 0.99], "beta3": 0.9, "estim_lr0": 1e-3}),
        ("momo", "adapt_wd", {"adapt_lower_bound": True, "weight_decay": 0.01}),
        ("momo_adam", "adapt", {"learning_rate": 0.05, "adapt_lower_bound": True}),
        ("schedule_free_adamw", "variant", {"learning_rate": 0.02, "warmup_steps": 3,
                                            "weight_decay": 0.01}),
        ("schedule_free_sgd", "variant", {"learning_rate": 0.05, "b1": 0.8}),
        ("mechanize", "variant", {"base_optimizer": adam, "num_betas": 3}),
    ]
    for dtype in ["float64", "float32"]:
        for opt, name, args in distance:
            out.append(("scalar_3d_distance.json", f"{opt}/scalar_3d/{name}/{dtype}", opt, args,
                        dtype, SMALL, 10, 23))
    # lbfgs (optax main) on the same leaves: its cases pass `value`, `grad` and the
    # objective (`value_fn`) that the zoom line search evaluates.
    lbfgs = [
        ("lbfgs", "default", {}),
        ("lbfgs", "memory_3_unscaled", {"memory_size": 3, "scale_init_precond": False}),
        ("lbfgs", "learning_rate", {"learning_rate": 0.5}),
        ("lbfgs", "no_linesearch", {"learning_rate": 0.1, "linesearch": None}),
    ]
    for dtype in ["float64", "float32"]:
        for opt, name, args in lbfgs:
            out.append(("scalar_3d_lbfgs.json", f"{opt}/scalar_3d/{name}/{dtype}", opt, args,
                        dtype, SMALL, 10, 23))
    # muon (optax.contrib) on a scalar, a 3-d leaf (both go to its AdamW fallback, as
    # optax treats only 2-d leaves as matrices by default) and a tall matrix (orthogonalized
    # in the transposed orientation).
    muon = [
        ("muon", "default", {"learning_rate": 0.02}),
        ("muon", "variant", {"learning_rate": 0.02, "ns_steps": 3, "beta": 0.9,
                             "nesterov": False, "weight_decay": 0.01, "adam_b1": 0.8}),
        ("muon", "adaptive", {"learning_rate": 0.02, "adaptive": True}),
    ]
    for dtype in ["float64", "float32"]:
        for opt, name, args in muon:
            out.append(("scalar_3d_muon.json", f"{opt}/scalar_3d_matrix/{name}/{dtype}", opt,
                        args, dtype, MUON, 10, 29))
    return out


def run(dtype):
    """Runs every case of `dtype` in this process; prints them as JSON."""
    import jax
    jax.config.update("jax_enable_x64", dtype == "float64")
    import jax.numpy as jnp
    import numpy as np
    import optax

    jdt = jnp.float64 if dtype == "float64" else jnp.float32

    def num(x):
        if dtype == "float64":
            return float("%.10g" % float(x))
        return float(str(np.float32(x)))

    def tree(rng, shapes, lo, hi):
        return {k: np.round(rng.uniform(lo, hi, size=s), 2) for k, s in sorted(shapes.items())}

    def schedule(spec):
        kw = {k: v for k, v in spec.items() if k != "schedule"}
        return getattr(optax.schedules, spec["schedule"])(**kw)

    def raw(t):
        return {k: {"shape": list(v.shape), "data": [float(x) for x in np.ravel(v)]}
                for k, v in t.items()}

    results = []
    for file, cid, opt_name, args, dt, shapes, steps, seed in specs():
        if dt != dtype:
            continue
        rng = np.random.default_rng(seed)
        init = tree(rng, shapes, -1.0, 1.0)
        weight = tree(rng, shapes, 0.25, 2.0)
        center = tree(rng, shapes, -0.8, 0.8)
        # sm3: scalars as shape-[1] arrays inside optax (deviation 3), reshaped back.
        lift = opt_name == "sm3"
        inner = lambda t: {k: (v.reshape(1) if lift and v.ndim == 0 else v) for k, v in t.items()}
        outer = lambda t: {k: (v.reshape(()) if lift and shapes[k] == [] else v)
                           for k, v in t.items()}
        w = {k: jnp.asarray(v, jdt) for k, v in weight.items()}
        c = {k: jnp.asarray(v, jdt) for k, v in center.items()}

        def f(p):
            p = outer(p)
            return sum(0.5 * jnp.sum(w[k] * (p[k] - c[k]) ** 2) for k in sorted(p))

        def arg(v):
            if isinstance(v, dict) and "schedule" in v:
                return schedule(v)
            if isinstance(v, dict) and "fn" in v:  # a base optimizer, as an expression
                return getattr(optax, v["fn"])(**{k: arg(x) for k, x in v["args"].items()})
            return tuple(v) if isinstance(v, list) else v

        kw = {k: arg(v) for k, v in args.items()}
        factory = getattr(optax, opt_name, None) or getattr(optax.contrib, opt_name)
        opt = factory(**kw)
        params = inner({k: jnp.asarray(v, jdt) for k, v in init.items()})
        state = opt.init(params)
        values = [num(f(params))]
        trace = []
        evals = []
        for _ in range(steps):
            value, grads = jax.value_and_grad(f)(params)
            if opt_name in ("polyak_sgd", "momo", "momo_adam"):
                updates, state = opt.update(grads, state, params, value=value)
            elif opt_name == "lbfgs":
                updates, state = opt.update(grads, state, params, value=value, grad=grads,
                                            value_fn=f)
            else:
                updates, state = opt.update(grads, state, params)
            params = optax.apply_updates(params, updates)
            values.append(num(f(params)))
            trace.append({k: [num(x) for x in np.ravel(np.asarray(v))]
                          for k, v in outer(params).items()})
            if opt_name.startswith("schedule_free"):
                e = optax.contrib.schedule_free_eval_params(state, params)
                evals.append({k: [num(x) for x in np.ravel(np.asarray(v))]
                              for k, v in outer(e).items()})
        expected = {"values": values, "params": trace}
        if evals:
            expected["eval_params"] = evals
        results.append({
            "file": file,
            "case": {
                "id": cid, "optimizer": opt_name, "args": args, "dtype": dtype,
                "problem": {"kind": "quadratic", "weight": raw(weight), "center": raw(center)},
                "init": raw(init), "steps": steps,
                "expected": expected,
            },
        })
    json.dump(results, sys.stdout)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--run":
        run(sys.argv[2])
        return
    only = set(sys.argv[1:])
    unknown = only - {s[0] for s in specs()}
    if unknown:
        sys.exit(f"unknown file(s): {', '.join(sorted(unknown))}")
    files = {}
    for dtype in ["float64", "float32"]:
        out = subprocess.run([sys.executable, __file__, "--run", dtype], check=True,
                             capture_output=True, text=True).stdout
        for r in json.loads(out):
            files.setdefault(r["file"], []).append(r["case"])
    order = {s[1]: i for i, s in enumerate(specs())}
    for name, cases in files.items():
        if only and name not in only:
            continue
        cases.sort(key=lambda c: order[c["id"]])
        with open(os.path.join(HERE, name), "w") as fh:
            fh.write("[\n" + ",\n".join(json.dumps(c, separators=(",", ":")) for c in cases)
                     + "\n]\n")
        print(f"{name}: {len(cases)} cases")


if __name__ == "__main__":
    main()
