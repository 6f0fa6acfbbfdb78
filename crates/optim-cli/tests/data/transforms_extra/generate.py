#!/usr/bin/env python3
"""Generates the extra transformation-expression cases in this folder (see PROVENANCE.md).

Run with a Python that has optax 0.2.8 and jax 0.10.2 (CPU):

    python generate.py            # writes cases.json

Cases the vendored set (../transforms) does not have: other shapes (a scalar, a vector of 7,
a 3-d and a 4-d leaf), other nestings and other arguments of the same functions. The
float64 cases run with `jax_enable_x64` on and the float32 cases with it off, as the
reference set does; each dtype runs in its own child process (the flag is global).

The case format is the reference set's, with expressions as its README's section
"Transformation expressions" defines them; this script turns an expression into the optax
call it names. Inputs are rounded to 2 decimals; in the expected traces float64 numbers are
written with 10 significant digits and float32 numbers as the shortest decimal that reads
back as the same float32 (as ../extra/generate.py does).
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

SHAPES = {"s": [], "t": [2, 3, 4], "v": [7]}
SHAPES4 = {"q": [2, 2, 2, 3], "s": [], "t": [2, 3, 4]}
ADAM = {"fn": "adam", "args": {"learning_rate": 0.05}}
SGD = {"fn": "sgd", "args": {"learning_rate": 0.1}}
COS = {"schedule": "cosine_decay_schedule", "init_value": 0.05, "decay_steps": 10, "alpha": 0.1}

# (id, expression, shapes, steps, nan_steps, inf_steps)
SPECS = [
    ("partition/adam_and_momentum", {"fn": "partition", "args": {
        "transforms": {"a": ADAM, "m": {"fn": "sgd", "args": {"learning_rate": 0.1, "momentum": 0.9}}},
        "param_labels": {"s": "a", "t": "m", "v": "a"}}}, SHAPES, 12, [], []),
    ("multi_transform/lion_and_frozen", {"fn": "multi_transform", "args": {
        "transforms": {"l": {"fn": "lion", "args": {"learning_rate": 0.01}}, "z": "set_to_zero"},
        "param_labels": {"s": "z", "t": "l", "v": "l"}}}, SHAPES, 12, [], []),
    ("MultiSteps/adam_k2_mean", {"fn": "MultiSteps", "args": {"opt": ADAM, "every_k_schedule": 2}},
     SHAPES, 12, [], []),
    ("MultiSteps/chain_k4_sum", {"fn": "MultiSteps", "args": {"opt": {"fn": "chain", "args": {
        "transforms": [{"fn": "clip_by_global_norm", "args": {"max_norm": 1.0}}, SGD]}},
        "every_k_schedule": 4, "use_grad_mean": False}}, SHAPES, 12, [], []),
    ("inject_hyperparams/adamw_scheduled_decay", {"fn": "inject_hyperparams", "args": {
        "inner": "adamw", "hyperparams": {"learning_rate": 0.05, "weight_decay": COS, "b2": 0.95}}},
     SHAPES, 12, [], []),
    ("inject_hyperparams/lion_constant", {"fn": "inject_hyperparams", "args": {
        "inner": "lion", "hyperparams": {"learning_rate": 0.01, "b1": 0.8}}}, SHAPES, 12, [], []),
    ("apply_if_finite/sgd_momentum_scalar_first", {"fn": "apply_if_finite", "args": {
        "inner": {"fn": "sgd", "args": {"learning_rate": 0.1, "momentum": 0.9}},
        "max_consecutive_errors": 2}}, SHAPES, 12, [2, 3], [6]),
    ("flatten/lamb", {"fn": "flatten", "args": {"inner": {"fn": "lamb", "args": {"learning_rate": 0.02}}}},
     SHAPES, 12, [], []),
    ("chain/centralize_agc_sgd_4d", {"fn": "chain", "args": {"transforms": [
        "centralize", {"fn": "adaptive_grad_clip", "args": {"clipping": 0.05}}, SGD]}},
     SHAPES4, 12, [], []),
    ("named_chain/zero_nans_normalized", {"fn": "named_chain", "args": {"transforms": [
        ["zn", "zero_nans"], ["norm", {"fn": "normalize_by_update_norm", "args": {"scale_factor": 2.0}}],
        ["lr", {"fn": "scale", "args": {"step_size": -0.05}}]]}}, SHAPES, 12, [1, 5], []),
    ("reduce_on_plateau/accumulated", {"fn": "chain", "args": {"transforms": [
        {"fn": "adam", "args": {"learning_rate": 0.3}},
        {"fn": "reduce_on_plateau", "args": {"patience": 1, "factor": 0.5, "cooldown": 1,
                                             "accumulation_size": 2}}]}}, SHAPES, 16, [], []),
    ("lookahead/adam_every_3", {"fn": "lookahead", "args": {"fast_optimizer": ADAM, "sync_period": 3,
                                                           "slow_step_size": 0.5}}, SHAPES, 12, [], []),
    ("masked/freeze_then_apply_every", {"fn": "chain", "args": {"transforms": [
        {"fn": "freeze", "args": {"mask": {"s": False, "t": True, "v": False}}},
        {"fn": "masked", "args": {"inner": {"fn": "scale_by_adam", "args": {"b1": 0.8}},
                                  "mask": {"s": True, "t": False, "v": True}}},
        {"fn": "scale", "args": {"step_size": -0.05}},
        {"fn": "apply_every", "args": {"k": 2}},
        "keep_params_nonnegative"]}}, SHAPES, 12, [], []),
    # Line searches (issue 11) in chains: they receive `value`, `grad` and the objective
    # (`value_fn`) at every step.
    ("chain/sgd_backtracking", {"fn": "chain", "args": {"transforms": [
        {"fn": "sgd", "args": {"learning_rate": 1.0}},
        {"fn": "scale_by_backtracking_linesearch", "args": {"max_backtracking_steps": 15}}]}},
     SHAPES, 10, [], []),
    ("chain/sgd_backtracking_store_grad", {"fn": "chain", "args": {"transforms": [
        {"fn": "sgd", "args": {"learning_rate": 2.0}},
        {"fn": "scale_by_backtracking_linesearch", "args": {
            "max_backtracking_steps": 15, "decrease_factor": 0.5, "slope_rtol": 0.3,
            "store_grad": True}}]}}, SHAPES, 10, [], []),
    ("chain/lbfgs_zoom_keep", {"fn": "chain", "args": {"transforms": [
        {"fn": "scale_by_lbfgs", "args": {"memory_size": 4}},
        {"fn": "scale", "args": {"step_size": -1.0}},
        {"fn": "scale_by_zoom_linesearch", "args": {"max_linesearch_steps": 15,
                                                    "max_learning_rate": 2.0}}]}},
     SHAPES, 10, [], []),
    # Scheduled decays: jax keeps a float32 schedule value (linear, exponential and
    # polynomial schedules of the int32 count) as float32 even with float64 params, so
    # the bias corrections are float32 computations; a cosine schedule's value is a
    # weakly typed float, which takes the params' dtype.
    ("inject_hyperparams/adan_scheduled_b1_b3", {"fn": "inject_hyperparams", "args": {
        "inner": "adan", "hyperparams": {
            "learning_rate": 0.05,
            "b1": {"schedule": "linear_schedule", "init_value": 0.9, "end_value": 0.98, "transition_steps": 8},
            "b3": {"schedule": "exponential_decay", "init_value": 0.99, "transition_steps": 5,
                   "decay_rate": 0.9}}}}, SHAPES, 12, [], []),
    ("inject_hyperparams/amsgrad_scheduled_b2", {"fn": "inject_hyperparams", "args": {
        "inner": "amsgrad", "hyperparams": {
            "learning_rate": 0.05,
            "b2": {"schedule": "polynomial_schedule", "init_value": 0.9, "end_value": 0.999,
                   "power": 2, "transition_steps": 10}}}}, SHAPES, 12, [], []),
    ("inject_hyperparams/nadamw_cosine_b1", {"fn": "inject_hyperparams", "args": {
        "inner": "nadamw", "hyperparams": {
            "learning_rate": 0.05,
            "b1": {"schedule": "cosine_decay_schedule", "init_value": 0.95, "decay_steps": 10,
                   "alpha": 0.9}}}}, SHAPES, 12, [], []),
]


def reads_fn(expr, names):
    """Whether `expr` contains a transformation named in `names`."""
    if isinstance(expr, str):
        return expr in names
    if isinstance(expr, dict):
        return expr.get("fn") in names or any(reads_fn(v, names) for v in expr.values())
    if isinstance(expr, list):
        return any(reads_fn(v, names) for v in expr)
    return False


LINESEARCHES = ("scale_by_backtracking_linesearch", "scale_by_zoom_linesearch")


def reads_value(expr):
    if isinstance(expr, str):
        return expr == "reduce_on_plateau"
    if isinstance(expr, dict):
        return expr.get("fn") == "reduce_on_plateau" or any(reads_value(v) for v in expr.values())
    if isinstance(expr, list):
        return any(reads_value(v) for v in expr)
    return False


def run(dtype):
    """Runs every case of `dtype` in this process; prints them as JSON."""
    import jax
    jax.config.update("jax_enable_x64", dtype == "float64")
    import jax.numpy as jnp
    import numpy as np
    import optax
    import optax.contrib

    jdt = jnp.float64 if dtype == "float64" else jnp.float32

    def num(x):
        if dtype == "float64":
            return float("%.10g" % float(x))
        return float(str(np.float32(x)))

    def fn(name):
        return getattr(optax, name, None) or getattr(optax.contrib, name)

    def arg(v):
        if isinstance(v, dict) and "schedule" in v:
            kw = {k: x for k, x in v.items() if k != "schedule"}
            return fn(v["schedule"])(**kw)
        return v

    def make(e):
        if isinstance(e, str):
            e = {"fn": e, "args": {}}
        name, a = e["fn"], dict(e.get("args", {}))
        if name == "chain":
            return optax.chain(*[make(t) for t in a["transforms"]])
        if name == "named_chain":
            return optax.named_chain(*[(n, make(t)) for n, t in a["transforms"]])
        if name in ("partition", "multi_transform"):
            return fn(name)({k: make(t) for k, t in a["transforms"].items()}, a["param_labels"])
        if name == "inject_hyperparams":
            return optax.inject_hyperparams(fn(a["inner"]))(**{k: arg(v) for k, v in a["hyperparams"].items()})
        if name == "lookahead":
            a["fast_optimizer"] = make(a["fast_optimizer"])
            return optax.lookahead(**a)
        if name == "MultiSteps":
            return optax.MultiSteps(make(a.pop("opt")), **a).gradient_transformation()
        for key in ("inner", "opt"):
            if key in a:
                a[key] = make(a[key])
        return fn(name)(**{k: arg(v) for k, v in a.items()})

    def tree(rng, shapes, lo, hi):
        return {k: np.round(rng.uniform(lo, hi, size=s), 2) for k, s in sorted(shapes.items())}

    def raw(t):
        return {k: {"shape": list(v.shape), "data": [float(x) for x in np.ravel(v)]} for k, v in t.items()}

    results = []
    for i, (cid, expr, shapes, steps, nan_steps, inf_steps) in enumerate(SPECS):
        rng = np.random.default_rng(100 + i)
        init = tree(rng, shapes, 0.05, 1.0)
        weight = tree(rng, shapes, 0.25, 2.0)
        center = tree(rng, shapes, -0.8, 0.8)
        w = {k: jnp.asarray(v, jdt) for k, v in weight.items()}
        c = {k: jnp.asarray(v, jdt) for k, v in center.items()}

        def f(p):
            return sum(0.5 * jnp.sum(w[k] * (p[k] - c[k]) ** 2) for k in sorted(p))

        opt = make(expr)
        params = {k: jnp.asarray(v, jdt) for k, v in init.items()}
        look = expr["fn"] == "lookahead"
        if look:
            # The traced params are the fast ones, where the gradients are taken.
            params = optax.LookaheadParams.init_synced(params)
        fast = (lambda p: p.fast) if look else (lambda p: p)
        state = opt.init(params)
        values = [num(f(fast(params)))]
        trace, hypers = [], []
        first = sorted(shapes)[0]
        for step in range(steps):
            value, grads = jax.value_and_grad(f)(fast(params))
            bad = np.nan if step in nan_steps else (np.inf if step in inf_steps else None)
            if bad is not None:
                g0 = np.array(grads[first]).reshape(-1)
                g0[0] = bad
                grads = dict(grads, **{first: jnp.asarray(g0.reshape(grads[first].shape), jdt)})
            if reads_fn(expr, LINESEARCHES):
                updates, state = opt.update(grads, state, params, value=value, grad=grads,
                                            value_fn=f)
            elif reads_value(expr):
                updates, state = opt.update(grads, state, params, value=value)
            else:
                updates, state = opt.update(grads, state, params)
            params = optax.apply_updates(params, updates)
            values.append(num(f(fast(params))))
            trace.append({k: [num(x) for x in np.ravel(v)] for k, v in sorted(fast(params).items())})
            if expr["fn"] == "inject_hyperparams":
                hypers.append({k: num(state.hyperparams[k]) for k in sorted(expr["args"]["hyperparams"])})
        problem = {"kind": "quadratic", "weight": raw(weight), "center": raw(center)}
        if nan_steps:
            problem["nan_steps"] = nan_steps
        if inf_steps:
            problem["inf_steps"] = inf_steps
        expected = {"values": values, "params": trace}
        if hypers:
            expected["hyperparams"] = hypers
        results.append({
            "id": f"{cid}/{dtype}", "family": cid.split("/")[0], "optimizer": expr,
            "dtype": dtype, "problem": problem, "init": raw(init), "steps": steps,
            "expected": expected,
        })
    print(json.dumps(results))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--dtype":
        run(sys.argv[2])
        return
    cases = []
    for dtype in ["float64", "float32"]:
        out = subprocess.run([sys.executable, __file__, "--dtype", dtype], check=True,
                             capture_output=True, text=True).stdout
        cases += json.loads(out)
    cases.sort(key=lambda c: c["id"])
    with open(os.path.join(HERE, "cases.json"), "w") as fh:
        json.dump(cases, fh, indent=1)
        fh.write("\n")
    print(f"wrote {len(cases)} cases")


if __name__ == "__main__":
    main()
