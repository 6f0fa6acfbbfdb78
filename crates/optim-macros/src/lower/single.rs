//! An elementary declaration as a kernel of one stage.

use super::{arg_of, BufDef, Kernel, LeafDef, Source, Stage};
use crate::ast::Decl;

pub fn single(d: &Decl) -> Kernel<'_> {
    let args = d.hypers.iter().map(arg_of).collect();
    let masks: Vec<_> = d.masks().map(|h| h.name.clone()).collect();
    let bufs: Vec<BufDef> = d
        .elem_states()
        .enumerate()
        .map(|(i, s)| BufDef {
            name: s.name.clone(),
            stage: 0,
            local: i,
            absent: s.enabled.is_some(),
            dtype: s.dtype.is_some(),
            shared: false,
            from_params: s.from_params,
        })
        .collect();
    let leaf_states: Vec<LeafDef> = d
        .leaf_states()
        .enumerate()
        .map(|(i, s)| LeafDef {
            name: s.name.clone(),
            stage: 0,
            local: i,
        })
        .collect();
    let tree_states: Vec<LeafDef> = d
        .tree_states()
        .enumerate()
        .map(|(i, s)| LeafDef {
            name: s.name.clone(),
            stage: 0,
            local: i,
        })
        .collect();
    let stage = Stage {
        decl: d,
        path: d.fn_name.clone().into(),
        bindings: Vec::new(),
        sources: d
            .hypers
            .iter()
            .map(|h| Source::Arg(h.name.clone()))
            .collect(),
        cond: None,
        gate: None,
        bufs: (0..bufs.len()).collect(),
        masks: (0..masks.len()).map(Some).collect(),
        leaf_states: (0..leaf_states.len()).collect(),
        tree_states: (0..tree_states.len()).collect(),
        lv_offset: 0,
    };
    Kernel {
        head: d,
        args,
        pre: Vec::new(),
        stages: vec![stage],
        bufs,
        masks,
        leaf_states,
        tree_states,
        reducer: d.has_reduction().then_some(0),
        uses_value: d.body.uses_value,
        uses_p: d.body.uses_p(),
        composite: false,
    }
}
