//! What the benches share: the GPT-2-small-shaped tree (148 leaves, 124,439,808 params).

use optim::{Tensor, TensorMap};

/// GPT-2 small: token and position embeddings, 12 blocks, the final layer norm.
pub fn gpt2_tree(fill: f32) -> TensorMap<f32> {
    let mut t = TensorMap::new();
    let mut add = |name: String, shape: Vec<usize>| {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n)
            .map(|i| fill * ((i % 89) as f32 - 44.0) * 1e-3)
            .collect();
        t.insert(name, Tensor::new(shape, data).expect("shape"));
    };
    add("wte".into(), vec![50257, 768]);
    add("wpe".into(), vec![1024, 768]);
    for b in 0..12 {
        let h = |s: &str| format!("h.{b:02}.{s}");
        add(h("ln_1.w"), vec![768]);
        add(h("ln_1.b"), vec![768]);
        add(h("attn.c_attn.w"), vec![768, 2304]);
        add(h("attn.c_attn.b"), vec![2304]);
        add(h("attn.c_proj.w"), vec![768, 768]);
        add(h("attn.c_proj.b"), vec![768]);
        add(h("ln_2.w"), vec![768]);
        add(h("ln_2.b"), vec![768]);
        add(h("mlp.c_fc.w"), vec![768, 3072]);
        add(h("mlp.c_fc.b"), vec![3072]);
        add(h("mlp.c_proj.w"), vec![3072, 768]);
        add(h("mlp.c_proj.b"), vec![768]);
    }
    add("ln_f.w".into(), vec![768]);
    add("ln_f.b".into(), vec![768]);
    t
}
