//! Strict loading names the tensor that does not fit and writes nothing; a partial load
//! restores what fits and reports the rest; names, dtypes and metadata are as documented.

use optim_checkpoint::{self as checkpoint, NotRestored};
use optim_core::{adam, adamw, chain, sgd, Dtype, Error, Tensor, TensorMap, Transformation};
use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "optim-strict-{}-{name}.safetensors",
        std::process::id()
    ))
}

fn params(shape_w: [usize; 2]) -> TensorMap<f32> {
    let mut m = TensorMap::new();
    m.insert("enc.w".into(), Tensor::full(shape_w, 0.5));
    m.insert("enc.b".into(), Tensor::full([3], -1.0));
    m
}

/// Three adam steps on `params([2, 3])`, saved to `file`; returns params and state.
fn saved(
    file: &PathBuf,
) -> (
    TensorMap<f32>,
    <optim_core::Adam as Transformation<f32>>::State,
) {
    let opt = adam(0.1);
    let mut p = params([2, 3]);
    let mut s = opt.init(&p).unwrap();
    for _ in 0..3 {
        let g = p.clone();
        opt.step(&mut p, &g, &mut s).unwrap();
    }
    checkpoint::save(file, &opt, &p, &s).unwrap();
    (p, s)
}

fn names(file: &PathBuf) -> Vec<(String, safetensors::Dtype, Vec<usize>)> {
    let bytes = std::fs::read(file).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut v: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.dtype(), t.shape().to_vec()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn tensors_are_named_by_buffer_and_leaf_in_their_own_dtype() {
    use safetensors::Dtype::*;
    let file = tmp("names");
    let opt = adam(0.1).mu_dtype(Dtype::BF16);
    let p = params([2, 3]);
    let s = opt.init(&p).unwrap();
    checkpoint::save(&file, &opt, &p, &s).unwrap();
    assert_eq!(
        names(&file),
        vec![
            ("count".into(), U64, vec![]),
            ("mu/enc.b".into(), BF16, vec![3]),
            ("mu/enc.w".into(), BF16, vec![2, 3]),
            ("nu/enc.b".into(), F32, vec![3]),
            ("nu/enc.w".into(), F32, vec![2, 3]),
            ("params/enc.b".into(), F32, vec![3]),
            ("params/enc.w".into(), F32, vec![2, 3]),
        ]
    );
    let meta = checkpoint::read_metadata(&file).unwrap();
    assert_eq!(meta.optimizer, "adam");
    assert_eq!(meta.step, 0);
    assert_eq!(meta.optim_version, "0.1.0");
    assert!(
        meta.hyperparameters.contains("b2: 0.999"),
        "{}",
        meta.hyperparameters
    );
    // No temporary file is left beside the checkpoint.
    let dir = std::fs::read_dir(file.parent().unwrap()).unwrap();
    let stem = file.file_name().unwrap().to_string_lossy().to_string();
    assert!(dir.filter_map(|e| e.ok()).all(|e| !e
        .file_name()
        .to_string_lossy()
        .contains(&format!("{stem}.tmp"))));
    std::fs::remove_file(&file).ok();
}

#[test]
fn a_chain_numbers_its_members_and_masks_are_flags() {
    use safetensors::Dtype::*;
    let file = tmp("chain");
    let opt = chain(sgd(0.1).momentum(0.9), adamw(0.1).mask([("enc", true)]));
    let p = params([2, 3]);
    let s = opt.init(&p).unwrap();
    checkpoint::save(&file, &opt, &p, &s).unwrap();
    let n = names(&file);
    assert!(n.contains(&("0/count".into(), U64, vec![])), "{n:?}");
    assert!(
        n.contains(&("0/trace/enc.w".into(), F32, vec![2, 3])),
        "{n:?}"
    );
    assert!(n.contains(&("1/mu/enc.w".into(), F32, vec![2, 3])), "{n:?}");
    assert!(n.contains(&("1/mask/enc.b".into(), BOOL, vec![])), "{n:?}");
    std::fs::remove_file(&file).ok();
}

#[test]
fn combinators_name_their_members_and_keep_their_own_numbers() {
    use safetensors::Dtype::*;
    let file = tmp("combinators");
    let e = serde_json::json!({"fn": "partition", "args": {
        "transforms": {
            "i": {"fn": "inject_hyperparams", "args": {"inner": "adam",
                "hyperparams": {"learning_rate": 0.05}}},
            "m": {"fn": "MultiSteps", "args": {
                "opt": {"fn": "sgd", "args": {"learning_rate": 0.1}}, "every_k_schedule": 2}},
        },
        "param_labels": {"enc.w": "i", "enc.b": "m"}}});
    let opt = optim_core::expr::build::<f32>(&e).unwrap();
    let mut p = params([2, 3]);
    let mut s = opt.init(&p).unwrap();
    let g = p.clone();
    opt.step(&mut p, &g, &mut s).unwrap();
    checkpoint::save(&file, &opt, &p, &s).unwrap();
    let n = names(&file);
    for (name, dtype, shape) in [
        ("i/labelled/enc.w", BOOL, vec![]),
        ("i/count", U64, vec![]),
        ("i/hyperparams/learning_rate", F64, vec![]),
        ("i/hyperparams/b1", F64, vec![]),
        ("i/inner/mu/enc.w", F32, vec![2, 3]),
        ("m/inner/count", U64, vec![]),
        ("m/mini_step", U64, vec![]),
        ("m/acc_grads/enc.b", F32, vec![3]),
        ("m/skip/should_skip", BOOL, vec![]),
        ("m/skip/norm_squared", F64, vec![]),
    ] {
        assert!(
            n.contains(&(name.into(), dtype, shape.clone())),
            "{name} {dtype:?} {shape:?} not in {n:?}"
        );
    }
    // An injected hyperparameter changed after the save is restored by the load.
    let opt = optim_core::inject_hyperparams(adam(0.05));
    let s = opt.init(&p).unwrap();
    checkpoint::save(&file, &opt, &p, &s).unwrap();
    let mut t = opt.init(&p).unwrap();
    t.set_hyperparam("b1", 0.5).unwrap();
    checkpoint::load(&file, &opt, &mut p.clone(), &mut t).unwrap();
    assert_eq!(t.hyperparams()["b1"], 0.9);
    std::fs::remove_file(&file).ok();
}

#[test]
fn strict_load_names_what_does_not_fit_and_writes_nothing() {
    let file = tmp("strict");
    let (p, s) = saved(&file);
    let opt = adam(0.1);
    let check = |mut q: TensorMap<f32>, tensor: &str, detail: &str| {
        let mut t = opt.init(&q).unwrap();
        let (q0, t0) = (q.clone(), t.clone());
        let e = checkpoint::load(&file, &opt, &mut q, &mut t).unwrap_err();
        match &e {
            Error::Checkpoint {
                tensor: n,
                detail: d,
                ..
            } => {
                assert_eq!(n, tensor, "{e}");
                assert!(d.contains(detail), "{e}");
            }
            _ => panic!("{e}"),
        }
        assert_eq!((q, t), (q0, t0), "a failed load wrote something");
    };
    // A reshaped leaf.
    check(
        params([3, 2]),
        "params/enc.w",
        "shape [2, 3], expected [3, 2]",
    );
    // A missing leaf (the file has one the params lack: a renamed leaf is both).
    let mut renamed = params([2, 3]);
    let b = renamed.remove("enc.b").unwrap();
    renamed.insert("enc.bias".into(), b);
    check(renamed, "params/enc.bias", "missing from the file");
    // An extra leaf in the file.
    let mut fewer = params([2, 3]);
    fewer.remove("enc.b");
    check(fewer, "mu/enc.b", "in neither");
    // Another optimizer of the same buffers is refused by name.
    let mut q = params([2, 3]);
    let other = adamw(0.1);
    let mut t = other.init(&q).unwrap();
    let e = checkpoint::load(&file, &other, &mut q, &mut t).unwrap_err();
    assert!(
        e.to_string().contains("saved by the optimizer `adam`"),
        "{e}"
    );
    // Another storage dtype.
    let bf = adam(0.1).mu_dtype(Dtype::BF16);
    let mut t = bf.init(&q).unwrap();
    let e = checkpoint::load(&file, &bf, &mut q, &mut t).unwrap_err();
    assert!(
        e.to_string()
            .contains("`mu/enc.b`: saved as F32, expected BF16"),
        "{e}"
    );
    // The same buffers under another configuration are refused, naming the argument.
    let faster = adam(0.2);
    let mut t = faster.init(&q).unwrap();
    let (q0, t0) = (q.clone(), t.clone());
    let e = checkpoint::load(&file, &faster, &mut q, &mut t).unwrap_err();
    assert!(
        e.to_string().contains("another `learning_rate`") && e.to_string().contains("0.2"),
        "{e}"
    );
    assert_eq!((&q, &t), (&q0, &t0), "a failed load wrote something");
    // What fits loads, whatever the order of the leaves.
    let mut q = params([2, 3]);
    let mut t = opt.init(&q).unwrap();
    let meta = checkpoint::load(&file, &opt, &mut q, &mut t).unwrap();
    assert_eq!((meta.step, q, t), (3, p, s));
    std::fs::remove_file(&file).ok();
}

#[test]
fn a_partial_load_restores_what_fits_and_reports_the_rest() {
    let file = tmp("partial");
    let (p, s) = saved(&file);
    let opt = adam(0.1);
    let mut q = params([3, 2]);
    q.insert("head".into(), Tensor::full([1], 7.0));
    let mut t = opt.init(&q).unwrap();
    let r = checkpoint::load_partial(&file, &opt, &mut q, &mut t).unwrap();
    assert_eq!(
        r.restored,
        vec!["params/enc.b", "count", "mu/enc.b", "nu/enc.b"]
    );
    let reasons: Vec<_> = r.not_restored.iter().map(|n| n.tensor.as_str()).collect();
    assert_eq!(
        reasons,
        vec![
            "params/enc.w",
            "params/head",
            "mu/enc.w",
            "nu/enc.w",
            "mu/head",
            "nu/head"
        ],
        "{:?}",
        r.not_restored
    );
    assert_eq!(
        r.not_restored[1],
        NotRestored {
            tensor: "params/head".into(),
            reason: "is missing from the file".into()
        }
    );
    assert!(r.unused.is_empty(), "{:?}", r.unused);
    assert_eq!(q["enc.b"], p["enc.b"]);
    assert_eq!(q["enc.w"], Tensor::full([3, 2], 0.5));
    assert_eq!(q["head"], Tensor::full([1], 7.0));
    assert_eq!(t.count, s.count);
    std::fs::remove_file(&file).ok();
}

#[test]
fn a_file_that_is_not_a_checkpoint_is_an_error() {
    let file = tmp("garbage");
    std::fs::write(&file, b"not safetensors").unwrap();
    let opt = adam(0.1);
    let mut q = params([2, 3]);
    let mut t = opt.init(&q).unwrap();
    let e = checkpoint::load(&file, &opt, &mut q, &mut t).unwrap_err();
    assert!(e.to_string().contains("is not a safetensors file"), "{e}");
    std::fs::remove_file(&file).ok();
    let e = checkpoint::load(&file, &opt, &mut q, &mut t).unwrap_err();
    assert!(matches!(e, Error::CheckpointFile { .. }), "{e}");
}
