//! The per-leaf block scalings (`clip_by_block_rms`, `scale_by_param_block_norm`,
//! `scale_by_param_block_rms`) through the public API.

use optim_core::{
    clip_by_block_rms, scale_by_param_block_norm, scale_by_param_block_rms, Error, Tensor,
    TensorMap, Transformation,
};

fn tree(shapes: &[(&str, &[usize])], seed: u64) -> TensorMap<f64> {
    // A deterministic spread of values of both signs.
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    };
    shapes
        .iter()
        .map(|(k, s)| {
            let n: usize = s.iter().product();
            let data: Vec<f64> = (0..n).map(|_| next()).collect();
            (k.to_string(), Tensor::new(s.to_vec(), data).unwrap())
        })
        .collect()
}

fn shapes_of(t: &TensorMap<f64>) -> Vec<(&str, &[usize])> {
    t.iter().map(|(k, v)| (k.as_str(), v.shape())).collect()
}

#[test]
fn block_primitives() {
    let p0 = tree(&[("b", &[4]), ("w", &[2, 3])], 10);
    let g = tree(&shapes_of(&p0), 11);
    let rms = |d: &[f64]| (d.iter().map(|x| x * x).sum::<f64>() / d.len() as f64).sqrt();
    let mut u = g.clone();
    let mut s = Transformation::<f64>::init(&clip_by_block_rms(0.1), &p0).unwrap();
    clip_by_block_rms(0.1).update(&mut u, &mut s, None).unwrap();
    for k in ["b", "w"] {
        assert!((rms(u[k].data()) - 0.1).abs() < 1e-15);
    }
    let mut u = g.clone();
    let t = scale_by_param_block_norm();
    let mut s = Transformation::<f64>::init(&t, &p0).unwrap();
    assert!(matches!(
        t.update(&mut u, &mut s, None),
        Err(Error::NeedsParams { .. })
    ));
    t.update(&mut u, &mut s, Some(&p0)).unwrap();
    let norm: f64 = p0["w"].data().iter().map(|x| x * x).sum::<f64>().sqrt();
    assert_eq!(u["w"].data()[1], g["w"].data()[1] * norm);
    let zeros: TensorMap<f64> = [("w".to_string(), Tensor::full([2, 3], 0.0))].into();
    let mut u: TensorMap<f64> = [("w".to_string(), Tensor::full([2, 3], 1.0))].into();
    let t = scale_by_param_block_rms();
    let mut s = Transformation::<f64>::init(&t, &zeros).unwrap();
    t.update(&mut u, &mut s, Some(&zeros)).unwrap();
    assert_eq!(u["w"].data()[0], 1e-3);
}
