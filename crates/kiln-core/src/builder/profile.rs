//! Optimization-profile validation and static-dimension specialization.

use super::{OptimizationProfile, ShapeRange};
use crate::error::Result;
use crate::network::Network;
use crate::kiln_bail;

/// Checks that every profile covers exactly the dynamic inputs with ranges that fit the network,
/// and returns one profile per build (a network without dynamic inputs gets one implicit profile).
pub fn validate_profiles(net: &Network, profiles: &[OptimizationProfile]) -> Result<Vec<OptimizationProfile>> {
    let dynamic: Vec<usize> = net.inputs.iter().copied().filter(|&i| net.tensors[i].dims.iter().any(|&d| d < 0)).collect();
    let mut out = Vec::new();
    let given: Vec<OptimizationProfile> = if profiles.is_empty() { vec![OptimizationProfile::default()] } else { profiles.to_vec() };
    for (pi, profile) in given.iter().enumerate() {
        let mut checked = OptimizationProfile::default();
        for name in profile.shapes.keys() {
            if !net.inputs.iter().any(|&i| &net.tensors[i].name == name) {
                let names: Vec<&str> = net.inputs.iter().map(|&i| net.tensors[i].name.as_str()).collect();
                kiln_bail!(InvalidProfile, "profile {pi} names '{name}', which is not a network input (inputs: {})", names.join(", "));
            }
        }
        for &id in &net.inputs {
            let t = &net.tensors[id];
            let range = match profile.shapes.get(&t.name) {
                Some(r) => r.clone(),
                None if dynamic.contains(&id) => kiln_bail!(
                    InvalidProfile,
                    "input '{}' has dynamic dims {:?}; give its shapes (e.g. --shapes {}:{}) or an optimization profile",
                    t.name,
                    t.dims,
                    t.name,
                    t.dims.iter().map(|&d| if d < 0 { "1".to_string() } else { d.to_string() }).collect::<Vec<_>>().join("x")
                ),
                None => continue,
            };
            check_range(&t.name, &t.dims, &range)?;
            checked.shapes.insert(t.name.clone(), range);
        }
        out.push(checked);
    }
    Ok(out)
}

fn check_range(name: &str, dims: &[i64], r: &ShapeRange) -> Result<()> {
    for (what, shape) in [("min", &r.min), ("opt", &r.opt), ("max", &r.max)] {
        if shape.len() != dims.len() {
            kiln_bail!(InvalidProfile, "input '{name}': {what} shape {:?} has rank {}, the input has rank {} ({:?})", shape, shape.len(), dims.len(), dims);
        }
        for (axis, (&s, &d)) in shape.iter().zip(dims).enumerate() {
            if d >= 0 && s as i64 != d {
                kiln_bail!(InvalidProfile, "input '{name}': {what} shape {:?} sets dim {axis} to {s}, but it is fixed at {d}", shape);
            }
        }
        crate::tensor::checked_numel(shape).map_err(|e| e.context(format!("input '{name}' {what} shape")))?;
    }
    for axis in 0..dims.len() {
        if !(r.min[axis] <= r.opt[axis] && r.opt[axis] <= r.max[axis]) {
            kiln_bail!(InvalidProfile, "input '{name}': dim {axis} needs min <= opt <= max, got {} / {} / {}", r.min[axis], r.opt[axis], r.max[axis]);
        }
    }
    Ok(())
}

/// Dims that every profile pins to one value (min == max everywhere) become static in the network,
/// which lets shape subgraphs fold and kernels specialise.
pub fn specialize_static_dims(net: &mut Network, profiles: &[OptimizationProfile]) {
    for &id in &net.inputs.clone() {
        let name = net.tensors[id].name.clone();
        let dims = net.tensors[id].dims.clone();
        let mut new_dims = dims.clone();
        for (axis, &d) in dims.iter().enumerate() {
            if d >= 0 {
                continue;
            }
            let values: Vec<(usize, usize)> = profiles.iter().filter_map(|p| p.shapes.get(&name)).map(|r| (r.min[axis], r.max[axis])).collect();
            if !values.is_empty() && values.iter().all(|&(lo, hi)| lo == hi && lo == values[0].0) {
                new_dims[axis] = values[0].0 as i64;
            }
        }
        net.tensors[id].dims = new_dims;
    }
}

/// The network's input dims at each profile's max shapes (used for memory planning).
pub fn max_dims(net: &Network, profile: &OptimizationProfile, id: usize) -> Vec<i64> {
    let t = &net.tensors[id];
    match profile.shapes.get(&t.name) {
        Some(r) => r.max.iter().map(|&d| d as i64).collect(),
        None => t.dims.clone(),
    }
}
