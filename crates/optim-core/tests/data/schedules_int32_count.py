#!/usr/bin/env python3
"""Generates schedules_int32_count.json: the 16 reference schedules of schedules.json
(and the EXTRA schedules below) evaluated by optax on an int32 step count, the way an
optax optimizer evaluates them.

Made with optax 0.2.8, jax 0.10.2, jaxlib 0.10.2 (CPU), numpy 2.4.6, Python 3.11.7:

    pip install optax==0.2.8 jax==0.10.2
    python3 schedules_int32_count.py   # run from anywhere; rewrites the JSON beside it

optax's optimizers keep their step counter as `jnp.zeros([], jnp.int32)`, call
`schedule(count)` in `scale_by_schedule` and cast the result with
`jnp.array(step_size, dtype=g.dtype)`. jax's type promotion then decides each
intermediate's dtype: `int32 / int` is a float32 division in both modes, while a Python
float meeting an int32 array gives the default float (float64 with `jax_enable_x64`,
float32 without), weakly typed. So the result is float32 for some schedules and
(weakly typed) float64 for others. Each entry records the result's dtype and weak type
and the exact bits of every value.

Two modes, as the project's reference traces used them (they replay bit for bit):
- "x64": `jax_enable_x64` on, the mode of the float64 cases;
- "x32": jax's default (x64 off), the mode of the float32 cases.

Values are computed eagerly (op by op), as the reference traces were. Under `jax.jit`
XLA rewrites `x / c` as `x * (1 / c)` and fuses multiply-adds, which changes some last
bits; the script reports how many values differ that way but does not store them.
Every eager value is also checked against the step size `optax.scale_by_schedule`
applies to an update of ones (float64 under x64, float32 without).

Output: {"generator", "optax", "jax", "steps", "x64": [entry...], "x32": [entry...]};
each list holds the 16 schedules of schedules.json in order, then the EXTRA ones; an
entry is {"set": "reference" | "extra", "spec": <as in schedules.json>,
"dtype": "float32" | "float64",
"weak_type": bool, "values": [v(0), ..., v(29)] (the value in its dtype, widened to
float64, Python repr; a Python float is rounded to the mode's default float), "bits": ["0x...", ...] (the IEEE bits in the entry's dtype: 8 hex digits
for float32, 16 for float64)}.
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = 30
EXPECTED_VERSIONS = {"optax": "0.2.8", "jax": "0.10.2"}

# More schedules, for the corners of jax's type promotion and optax's arithmetic: the
# three schedules of the reference optimizer traces, non-integer powers, a zero
# `transition_steps` (optax returns the Python float), a zero warmup, missing
# boundaries, `join_schedules` of parts of different dtypes (nested specs, as the
# project writes them), and unsorted or repeated onecycle boundaries.
EXTRA = [
    {"schedule": "warmup_cosine_decay_schedule", "init_value": 0.0, "peak_value": 0.05,
     "warmup_steps": 5, "decay_steps": 20, "end_value": 0.001},
    {"schedule": "exponential_decay", "init_value": 0.05, "transition_steps": 3,
     "decay_rate": 0.7, "transition_begin": 2, "staircase": True},
    {"schedule": "piecewise_constant_schedule", "init_value": 0.1,
     "boundaries_and_scales": {"5": 0.5, "12": 0.1}},
    {"schedule": "polynomial_schedule", "init_value": 0.7, "end_value": 0.003, "power": 1.7,
     "transition_steps": 23, "transition_begin": 1},
    {"schedule": "polynomial_schedule", "init_value": 0.7, "end_value": 0.003, "power": 0.5,
     "transition_steps": 0},
    {"schedule": "linear_schedule", "init_value": 0.3, "end_value": 0.9,
     "transition_steps": 7, "transition_begin": 4},
    {"schedule": "exponential_decay", "init_value": 0.01, "transition_steps": 7,
     "decay_rate": 1.3, "transition_begin": 2, "end_value": 0.02},
    {"schedule": "exponential_decay", "init_value": 0.3, "transition_steps": 0,
     "decay_rate": 0.5},
    {"schedule": "cosine_decay_schedule", "init_value": 0.07, "decay_steps": 17,
     "alpha": 0.03, "exponent": 1.5},
    {"schedule": "warmup_cosine_decay_schedule", "init_value": 0.2, "peak_value": 0.6,
     "warmup_steps": 0, "decay_steps": 25, "end_value": 0.01, "exponent": 0.7},
    {"schedule": "warmup_exponential_decay_schedule", "init_value": 0.0, "peak_value": 0.3,
     "warmup_steps": 7, "transition_steps": 5, "decay_rate": 0.9, "transition_begin": 3,
     "staircase": False},
    {"schedule": "piecewise_constant_schedule", "init_value": 0.3},
    {"schedule": "piecewise_interpolate_schedule", "interpolate_type": "cosine",
     "init_value": 0.3},
    {"schedule": "piecewise_interpolate_schedule", "interpolate_type": "linear",
     "init_value": 0.07, "boundaries_and_scales": {"7": 3.0, "2": 0.3, "19": 0.11}},
    {"schedule": "linear_onecycle_schedule", "transition_steps": 27, "peak_value": 0.3,
     "pct_start": 0.25, "pct_final": 0.7},
    {"schedule": "cosine_onecycle_schedule", "transition_steps": 23, "peak_value": 0.3},
    {"schedule": "linear_onecycle_schedule", "transition_steps": 10, "peak_value": 0.3,
     "pct_start": 0.5, "pct_final": 0.5},
    {"schedule": "warmup_constant_schedule", "init_value": 0.01, "peak_value": 0.3,
     "warmup_steps": 9},
    {"schedule": "join_schedules", "boundaries": [6, 14], "schedules": [
        {"schedule": "cosine_decay_schedule", "init_value": 0.3, "decay_steps": 10},
        {"schedule": "piecewise_constant_schedule", "init_value": 0.1,
         "boundaries_and_scales": {"3": 0.5}},
        {"schedule": "constant_schedule", "value": 0.03}]},
    {"schedule": "join_schedules", "boundaries": [5, 12], "schedules": [
        {"schedule": "piecewise_interpolate_schedule", "interpolate_type": "linear",
         "init_value": 0.1, "boundaries_and_scales": {"5": 3.0}},
        {"schedule": "cosine_decay_schedule", "init_value": 0.3, "decay_steps": 10},
        {"schedule": "linear_schedule", "init_value": 0.3, "end_value": 0.01,
         "transition_steps": 11}]},
    {"schedule": "join_schedules", "boundaries": [9], "schedules": [
        {"schedule": "linear_schedule", "init_value": 0.0, "end_value": 0.2,
         "transition_steps": 9},
        {"schedule": "cosine_decay_schedule", "init_value": 0.2, "decay_steps": 13,
         "alpha": 0.1}]},
    {"schedule": "sgdr_schedule", "cosine_kwargs": [
        {"init_value": 0.01, "peak_value": 0.3, "warmup_steps": 3, "decay_steps": 11,
         "end_value": 0.002, "exponent": 2.0},
        {"init_value": 0.02, "peak_value": 0.2, "warmup_steps": 1, "decay_steps": 7},
        {"init_value": 0.0, "peak_value": 0.1, "warmup_steps": 2, "decay_steps": 5,
         "end_value": 0.01}]},
]


def build(optax, spec):
    kwargs = dict(spec)
    name = kwargs.pop("schedule")
    if kwargs.get("boundaries_and_scales") is not None:
        kwargs["boundaries_and_scales"] = {
            int(k): v for k, v in kwargs["boundaries_and_scales"].items()
        }
    if name == "join_schedules":
        kwargs["schedules"] = [build(optax, s) for s in kwargs["schedules"]]
    return getattr(optax, name)(**kwargs)


def evaluate(mode):
    """Evaluates every schedule in `mode` ("x64" or "x32"); returns the entries."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    jax.config.update("jax_enable_x64", mode == "x64")
    float_dtype = jnp.float64 if mode == "x64" else jnp.float32

    def result_type(value):
        # A Python float (constant_schedule) is weakly typed, of the default float type.
        if isinstance(value, float):
            return jnp.dtype(float_dtype).name, True
        return jnp.asarray(value).dtype.name, bool(value.weak_type)

    def bits(value, dtype):
        if dtype == "float32":
            return "0x%08x" % np.asarray(value, dtype=np.float32).view(np.uint32).item()
        assert dtype == "float64", dtype
        return "0x%016x" % np.asarray(value, dtype=np.float64).view(np.uint64).item()

    specs = [("reference", e["spec"])
             for e in json.load(open(os.path.join(HERE, "schedules.json")))]
    specs += [("extra", spec) for spec in EXTRA]
    entries, jit_differs = [], 0
    for which, spec in specs:
        schedule = build(optax, spec)
        jitted = jax.jit(schedule)
        scaler = optax.scale_by_schedule(schedule)
        ones = jnp.ones([], float_dtype)
        state = scaler.init(ones)
        dtype = weak = None
        values, bit_strings = [], []
        for step in range(STEPS):
            count = jnp.asarray(step, dtype=jnp.int32)
            value = schedule(count)
            this = result_type(value)
            if dtype is None:
                dtype, weak = this
            assert (dtype, weak) == this, (spec, step, this)
            b = bits(value, dtype)
            jit_differs += bits(jitted(count), dtype) != b
            assert int(state.count) == step
            applied, state = scaler.update(ones, state)
            assert applied.dtype == float_dtype
            assert float(applied) == float(np.asarray(value, dtype=float_dtype)), (spec, step)
            values.append(float(np.asarray(value, dtype=dtype)))
            bit_strings.append(b)
        entries.append({"set": which, "spec": spec, "dtype": dtype, "weak_type": weak,
                        "values": values, "bits": bit_strings})
    print(f"{mode}: {jit_differs} of {len(specs) * STEPS} values differ under jax.jit",
          file=sys.stderr)
    return {"versions": {"optax": optax.__version__, "jax": jax.__version__},
            "entries": entries}


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--mode":
        # A child process: jax's x64 mode is best set once, before any computation.
        json.dump(evaluate(sys.argv[2]), sys.stdout)
        return
    out = {"generator": "schedules_int32_count.py", "steps": STEPS}
    for mode in ("x64", "x32"):
        child = subprocess.run([sys.executable, os.path.abspath(__file__), "--mode", mode],
                               check=True, stdout=subprocess.PIPE, text=True)
        result = json.loads(child.stdout)
        if result["versions"] != EXPECTED_VERSIONS:
            print(f"warning: ran with {result['versions']}, "
                  f"the stored data was made with {EXPECTED_VERSIONS}", file=sys.stderr)
        out.update(result["versions"])
        out[mode] = result["entries"]
    with open(os.path.join(HERE, "schedules_int32_count.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    for mode in ("x64", "x32"):
        for entry in out[mode]:
            print(mode, entry["dtype"], "weak" if entry["weak_type"] else "strong",
                  json.dumps(entry["spec"]))


if __name__ == "__main__":
    main()
